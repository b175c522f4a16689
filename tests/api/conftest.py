"""The local API, served for real: an engine on a temporary library, uvicorn on a free port."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.engine import Engine
from core.settings import Settings
from desktop.api import ApiConfig, ApiServer, OpenedEngine, create_app

TOKEN = "fn-test-token-3b1f9e2a7c6d5e4f"
UPLOAD_LIMIT = 300_000


def quick_settings() -> Settings:
    return Settings(max_answer_tokens=24, temperature=0.0, n_ctx=2048, top_k=3)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    eng = Engine(tmp_path_factory.mktemp("api-lib") / "data", quick_settings())
    try:
        yield eng
    finally:
        eng.close()


class Served:
    def __init__(self, server: ApiServer, app: Any) -> None:
        self.server = server
        self.app = app
        self.url = server.url
        self.auth = {"Authorization": f"Bearer {TOKEN}"}

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=300)


def serve(host: Any, **config: Any) -> Served:
    app = create_app(host, lambda: TOKEN, ApiConfig(port=0, **config))
    server = ApiServer(app, "127.0.0.1", 0)
    server.start()
    return Served(server, app)


@pytest.fixture(scope="module")
def api(engine: Engine) -> Iterator[Served]:
    served = serve(OpenedEngine(engine), max_upload_bytes=UPLOAD_LIMIT, rate_burst=10_000, rate_per_second=1000.0)
    try:
        yield served
    finally:
        served.server.stop()


@pytest.fixture
def make_api() -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def make(host: Any, **config: Any) -> Served:
        s = serve(host, **config)
        started.append(s)
        return s

    yield make
    for s in started:
        s.server.stop()


def wait_job(client: httpx.Client, job_id: str, limit_s: float = 240.0) -> dict[str, Any]:
    """Poll an import job until it ends (the limit only keeps a broken import from hanging)."""
    deadline = time.monotonic() + limit_s
    pause = threading.Event()
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["finished"] is not None or time.monotonic() > deadline:
            return job
        pause.wait(0.1)


def make_upload_pdf(folder: Path) -> Path:
    from tests.core.fixtures import make_pdf

    return make_pdf(folder / "lighthouse.pdf", [
        "The Zorblat lighthouse on Kestrel Island was built in 1887 by the engineer Mara Voss.\n"
        "Its lamp burns whale oil and can be seen from forty kilometres away.",
    ])
