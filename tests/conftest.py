"""Shared pytest fixtures."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Make the repository root importable (``core``, ``desktop``, ``tests.httpserver``) whether or not
# the project is pip-installed; otherwise ``tests/core`` could shadow the real ``core`` package.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.httpserver import HttpServer  # noqa: E402
from tests.run_suite import SecretService  # noqa: E402

# The suite answers with SmolLM2-135M (a catalog entry marked test_only) so that it stays fast; the
# tests that must use the real default (the Qwen 1.5B) clear this, see ``real_default_model``.
TEST_LLM = "smollm2-135m-instruct-q4_1"
os.environ.setdefault("FOOTNOTE_DEFAULT_LLM", TEST_LLM)

# A private config folder for the whole run (and every subprocess it starts): a data-folder choice
# saved by a real user never leaks into a test, and no test writes one into the user's settings.
if "FOOTNOTE_TEST_CONFIG_HOME" not in os.environ:
    import tempfile

    os.environ["FOOTNOTE_TEST_CONFIG_HOME"] = os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="footnote-config-")


@pytest.fixture
def real_default_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """Use the app's real default model (the bundled Qwen2.5-Coder-1.5B) in this test."""
    monkeypatch.delenv("FOOTNOTE_DEFAULT_LLM", raising=False)


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """A real HTTP server on 127.0.0.1 (see ``tests/httpserver.py``), stopped when the test ends."""
    with HttpServer() as server:
        yield server


@pytest.fixture(scope="session")
def secret_service() -> Iterator[dict[str, str]]:
    """The real Secret Service. Under ``tests/run_suite.py`` (``make test``) it is already running;
    otherwise a private D-Bus session and gnome-keyring-daemon are started here."""
    import keyring
    from keyring.backends import SecretService as SecretServiceBackend

    previous = keyring.get_keyring()
    if os.environ.get("FOOTNOTE_SECRET_SERVICE") == "1":
        keyring.set_keyring(SecretServiceBackend.Keyring())
        try:
            yield {k: v for k, v in os.environ.items() if k in ("DBUS_SESSION_BUS_ADDRESS", "GNOME_KEYRING_CONTROL")}
        finally:
            keyring.set_keyring(previous)
        return
    saved = {k: os.environ.get(k) for k in ("DBUS_SESSION_BUS_ADDRESS", "GNOME_KEYRING_CONTROL")}
    with SecretService(private_bus=True) as service:
        os.environ.update(service.env)
        keyring.set_keyring(SecretServiceBackend.Keyring())
        try:
            yield dict(service.env)
        finally:
            keyring.set_keyring(previous)
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


class FakeModels:
    """Small fake GGUF files (real bytes starting with ``GGUF``) and a catalog that lists them,
    installed for one test through ``FOOTNOTE_CATALOG`` (the real embedding and SmolLM2 entries are kept)."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = root
        self.monkeypatch = monkeypatch

    @staticmethod
    def payload(size: int = 300_000) -> bytes:
        return b"GGUF" + os.urandom(size - 4)

    @staticmethod
    def entry(model_id: str, payload: bytes, *, url: str = "", source: str = "catalog", **extra: Any) -> dict[str, Any]:
        import hashlib

        return {"id": model_id, "name": f"Fake {model_id}", "kind": "llm", "source": source,
                "file": f"{model_id}.gguf", "size_bytes": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
                "licence": "Apache-2.0", "context": 2048, "ram_gb": 0.1, "pick_when": "Tests.", "url": url, **extra}

    def catalog(self, *entries: dict[str, Any]) -> Path:
        import json

        real = json.loads((Path(_ROOT) / "models" / "catalog.json").read_text(encoding="utf-8"))
        kept = [m for m in real["models"] if m["kind"] == "embedding" or m["id"] == TEST_LLM]
        path = self.root / "fake-catalog.json"
        path.write_text(json.dumps({"version": 2, "models": kept + list(entries)}), encoding="utf-8")
        self.monkeypatch.setenv("FOOTNOTE_CATALOG", str(path))
        return path


@pytest.fixture
def fake_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeModels:
    return FakeModels(tmp_path, monkeypatch)
