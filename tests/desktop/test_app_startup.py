"""The real ``footnote`` process: the window appears quickly and SIGTERM closes it cleanly."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_window_opens_and_quits_cleanly(tmp_path: Path) -> None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp_path / "config"))
    env.pop("FOOTNOTE_DATA_DIR", None)
    data = tmp_path / "data"
    proc = subprocess.Popen([sys.executable, "-m", "desktop.main", "--data-dir", str(data), "-v"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("window shown" in ln for ln in lines):
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if ready:
                line = proc.stderr.readline()
                if not line:
                    break
                lines.append(line)
        assert any("window shown" in ln for ln in lines), "".join(lines)
        # Let the engine start opening, then ask the app to quit the normal way.
        while time.monotonic() < deadline and not any("engine state=" in ln for ln in lines):
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if ready:
                lines.append(proc.stderr.readline())
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    rest = proc.stderr.read() if proc.stderr else ""
    assert code == 0, "".join(lines) + rest
    assert "Traceback" not in "".join(lines) + rest
    assert (data / "footnote.log").exists()
