"""``footnote models list|install|use|remove`` as a real subprocess, downloading a small fake GGUF
from a real HTTP server on 127.0.0.1; Ctrl+C during a download leaves a resumable ``.part``."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import FakeModels
from tests.httpserver import HttpServer

ROOT = Path(__file__).resolve().parents[2]


def footnote(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desktop.main", "--data-dir", str(data), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def listed(data: Path) -> dict[str, Any]:
    proc = footnote(data, "models", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def test_list_install_use_remove_round_trip(tmp_path: Path, fake_models: FakeModels, http_server: HttpServer) -> None:
    payload = fake_models.payload(400_000)
    fake_models.catalog(fake_models.entry("tiny", payload, url="http://127.0.0.1:9/unused.gguf"))
    http_server.route_file("/mirror/tiny.gguf", payload)
    data = tmp_path / "data"

    before = listed(data)
    [tiny] = [m for m in before["models"] if m["id"] == "tiny"]
    assert tiny["installed"] is False and tiny["in_use"] is False and tiny["licence"] == "Apache-2.0"
    assert before["in_use"] == "smollm2-135m-instruct-q4_1"  # the suite's default (FOOTNOTE_DEFAULT_LLM)
    table = footnote(data, "models", "list").stdout
    assert table.splitlines()[0].split() == ["ID", "NAME", "SIZE", "RAM", "LICENCE", "INSTALLED", "IN", "USE"]
    assert any(line.startswith("tiny ") and " no" in line for line in table.splitlines())

    refused = footnote(data, "models", "use", "tiny")
    assert refused.returncode == 1
    assert refused.stderr == "footnote: tiny is not installed: install it first: footnote models install tiny\n"

    inst = footnote(data, "models", "install", "tiny", "--url", http_server.url("/mirror/tiny.gguf"))
    assert inst.returncode == 0, inst.stderr
    gguf = data / "models" / "llm" / "tiny.gguf"
    assert gguf.read_bytes() == payload and f"installed Fake tiny: {gguf}" in inst.stdout
    assert "100.0%" in inst.stderr and "MB/s" in inst.stderr  # the progress line (stderr is not a terminal here)

    used = footnote(data, "models", "use", "tiny", "--json")
    assert json.loads(used.stdout) == {"in_use": "tiny", "model_path": str(gguf)}
    after = listed(data)
    assert after["in_use"] == "tiny" and [m for m in after["models"] if m["id"] == "tiny"][0]["installed"] is True

    mine = tmp_path / "own.gguf"
    mine.write_bytes(fake_models.payload(2000))
    own = footnote(data, "models", "use", str(mine))
    assert own.returncode == 0 and "(local:own)" in own.stdout
    assert listed(data)["in_use"] == "local:own"
    junk = tmp_path / "junk.gguf"
    junk.write_text("hello")
    bad = footnote(data, "models", "use", str(junk))
    assert (bad.returncode, bad.stderr) == (1, "footnote: junk.gguf: not a GGUF model file\n")

    footnote(data, "models", "use", "tiny")
    gone = footnote(data, "models", "remove", "tiny")
    assert gone.returncode == 0 and "answering with the default model again" in gone.stdout
    assert not gguf.exists() and listed(data)["in_use"] == "smollm2-135m-instruct-q4_1"
    again = footnote(data, "models", "remove", "tiny")
    assert (again.returncode, again.stderr) == (1, "footnote: tiny is not installed\n")
    bundled = footnote(data, "models", "remove", "smollm2-135m-instruct-q4_1")
    assert bundled.returncode == 1 and "cannot be removed" in bundled.stderr
    assert footnote(data, "models", "install", "nope").stderr.startswith("footnote: nope: no such model")


def test_ctrl_c_cancels_cleanly_and_the_next_install_resumes(
        tmp_path: Path, fake_models: FakeModels, http_server: HttpServer) -> None:
    payload = fake_models.payload(4_000_000)  # 16 s at this pace: Ctrl+C lands mid-download even on a busy machine
    fake_models.catalog(fake_models.entry("tiny", payload, url=http_server.url("/m/tiny.gguf")))
    http_server.route_file("/m/tiny.gguf", payload, chunk_size=50_000, chunk_delay=0.2)
    data = tmp_path / "data"
    part = data / "models" / "llm" / "tiny.gguf.part"
    proc = subprocess.Popen([sys.executable, "-m", "desktop.main", "--data-dir", str(data), "models", "install", "tiny"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # A shell starts background jobs with SIGINT ignored, and Python then
                            # installs no KeyboardInterrupt handler: give the child the default back.
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (part.exists() and part.stat().st_size >= 100_000):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert err.splitlines()[-1] == "footnote: Fake tiny: download cancelled; run `footnote models install tiny` again to resume"
    assert "Traceback" not in err
    kept = part.stat().st_size
    assert 0 < kept < len(payload) and not (data / "models" / "llm" / "tiny.gguf").exists()

    http_server.route_file("/m/tiny.gguf", payload)
    done = footnote(data, "models", "install", "tiny")
    assert done.returncode == 0, done.stderr
    assert (data / "models" / "llm" / "tiny.gguf").read_bytes() == payload
    assert http_server.requests[-1].headers["range"] == f"bytes={kept}-"
