"""Model files: assembled and verified offline; corrupt files say how to fix them; catalog downloads."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from core.embedding import Embedder
from core.errors import ModelError
from core.modelstore import DownloadCancelled, download_model_file, embedding_model_dir
from tests.httpserver import Request, Response


def test_embedding_folder_is_assembled_and_loads_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    folder = embedding_model_dir(tmp_path)
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "config.json", "model.onnx", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"]
    vec = Embedder(tmp_path).embed(["a sentence"])
    assert vec.shape == (1, 384)


def test_corrupt_model_file_is_repaired_or_explained(tmp_path: Path) -> None:
    folder = embedding_model_dir(tmp_path)
    onnx = folder / "model.onnx"
    onnx.write_bytes(b"garbage")
    (folder / ".verified").unlink()
    embedding_model_dir(tmp_path)  # rebuilt from the installed package
    assert onnx.stat().st_size > 1_000_000


def test_missing_model_package_says_how_to_fix(tmp_path: Path) -> None:
    from core import modelstore

    entry = {"module": "footnote_no_such_model_pkg", "package": "no-such-model", "path": "m.onnx"}
    with pytest.raises(ModelError, match="model package 'no-such-model' is not installed: run `make setup`"):
        modelstore._source_path(entry)


def _range_server(http_server: Any, payload: bytes) -> str:
    def handler(request: Request) -> Response:
        rng = request.headers.get("Range") or request.headers.get("range")
        if rng:
            start = int(rng.split("=")[1].split("-")[0])
            return Response(body=payload[start:], status=206, content_type="application/octet-stream",
                            headers={"Content-Range": f"bytes {start}-{len(payload) - 1}/{len(payload)}"})
        return Response(body=payload, content_type="application/octet-stream")

    http_server.route("/models/m.gguf", handler=handler)
    return str(http_server.url("/models/m.gguf"))


def test_download_verifies_and_resumes(tmp_path: Path, http_server: Any) -> None:
    payload = os.urandom(300_000)
    digest = hashlib.sha256(payload).hexdigest()
    url = _range_server(http_server, payload)
    dest = tmp_path / "m.gguf"
    # A previous attempt left the first third behind.
    (tmp_path / "m.gguf.part").write_bytes(payload[:100_000])
    seen: list[tuple[int, int]] = []
    download_model_file(url, dest, digest, progress=lambda d, t: seen.append((d, t)))
    assert dest.read_bytes() == payload
    assert seen[0][0] > 100_000 and seen[-1] == (300_000, 300_000)
    assert not (tmp_path / "m.gguf.part").exists()


def test_download_rejects_wrong_checksum_and_404(tmp_path: Path, http_server: Any) -> None:
    url = _range_server(http_server, b"x" * 1000)
    with pytest.raises(ModelError, match="corrupt"):
        download_model_file(url, tmp_path / "m.gguf", "0" * 64)
    assert not (tmp_path / "m.gguf").exists()
    with pytest.raises(ModelError, match="HTTP 404"):
        download_model_file(http_server.url("/nothing"), tmp_path / "n.gguf", "0" * 64)


def test_download_cancel(tmp_path: Path, http_server: Any) -> None:
    payload = os.urandom(2_000_000)
    url = _range_server(http_server, payload)
    cancel = threading.Event()

    def progress(done: int, total: int) -> None:
        cancel.set()

    with pytest.raises(DownloadCancelled):
        download_model_file(url, tmp_path / "m.gguf", hashlib.sha256(payload).hexdigest(), progress, cancel)
    assert not (tmp_path / "m.gguf").exists()
