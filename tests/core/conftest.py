"""Fixtures for the answer pipeline: the real GGUF, a real OpenAI-compatible server, a real
Secret Service, and a small real library (FastEmbed + Qdrant local mode) to answer from."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from tests.run_suite import LlamaServer

SERVER_KEY = "sk-footnote-test-5f1e2d3c4b5a69788796a5b4"

DOCS = {
    "solar.md": (
        "# Solar power\n\n"
        "Solar panels convert sunlight into electricity using photovoltaic cells. "
        "The first practical silicon solar cell was built at Bell Labs in 1954 by Chapin, Fuller and Pearson.\n"
    ),
    "tea.md": (
        "# Green tea\n\n"
        "Green tea is made from the leaves of Camellia sinensis that have not been withered or oxidised. "
        "Green tea originated in China, where it has been drunk for thousands of years.\n"
    ),
    "volcano.md": (
        "# Volcanoes of Iceland\n\n"
        "Iceland sits on the Mid-Atlantic Ridge. The eruption of Eyjafjallajökull in 2010 "
        "grounded flights across Europe for six days because of its ash cloud.\n"
    ),
}


def quick_settings(**overrides: object) -> Settings:
    """Short answers keep the real model quick."""
    base: dict[str, object] = {"max_answer_tokens": 24, "temperature": 0.0, "n_ctx": 2048, "top_k": 3}
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture
def settings_for() -> object:
    """``settings_for(**overrides)``: quick settings for one test."""
    return quick_settings


@pytest.fixture(scope="session")
def server_key() -> str:
    return SERVER_KEY


@pytest.fixture(scope="session")
def llm_path() -> Path:
    from core.modelstore import default_llm_path

    return default_llm_path()


@pytest.fixture(scope="session")
def llama_server(llm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """``python -m llama_cpp.server`` with ``--api_key`` on a free port, for the whole session."""
    with LlamaServer(llm_path, SERVER_KEY, tmp_path_factory.mktemp("llama-server")) as server:
        yield server


@pytest.fixture(scope="session")
def library_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data folder with the three small documents imported once; tests get copies."""
    from core.engine import Engine

    root = tmp_path_factory.mktemp("library")
    docs = root / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    data = root / "data"
    engine = Engine(data, quick_settings())
    try:
        events = list(engine.ingest([str(docs)]))
    finally:
        engine.close()
    failed = [e.error for e in events if e.kind == "failed"]
    assert not failed, failed
    return root


@pytest.fixture
def library(library_template: Path, tmp_path: Path) -> Path:
    """A private copy of the template library (data folder + the documents it came from)."""
    dest = tmp_path / "lib"
    shutil.copytree(library_template, dest)
    return dest


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
