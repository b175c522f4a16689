"""UI benchmark: event-loop stalls while importing ~200 chunks and answering, start-up time to the
window shown, and peak RSS after one answer. Prints one JSON object.

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/bench/ui_bench.py

The stall numbers come with an idle baseline from the same run (the heartbeat alone), so a busy
shared machine shows up as a high baseline rather than as a UI regression.
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QElapsedTimer, QEventLoop, QSettings, Qt, QTimer  # noqa: E402


def startup(tmp: Path) -> dict[str, float]:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=str(tmp / "config"))
    env.pop("FOOTNOTE_DATA_DIR", None)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "desktop.main", "--data-dir", str(tmp / "startup"), "-v"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    shown = wall = -1.0
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stderr], [], [], 0.5)
            if not ready:
                continue
            line = proc.stderr.readline()
            if not line:
                break
            m = re.search(r"window shown seconds=([\d.]+)", line)
            if m:
                shown, wall = float(m.group(1)), time.monotonic() - t0
                break
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return {"process_start_to_window_shown_s": round(shown, 3), "spawn_to_window_shown_s": round(wall, 3)}


def pump(cond: Callable[[], bool], timeout: float) -> None:
    """Run a real event loop (as app.exec does) until ``cond`` holds."""
    if cond():
        return
    loop = QEventLoop()
    end = time.monotonic() + timeout
    check = QTimer()
    check.setInterval(50)

    def poll() -> None:
        if cond() or time.monotonic() > end:
            loop.quit()

    check.timeout.connect(poll)
    check.start()
    loop.exec()
    check.stop()
    if not cond():
        raise SystemExit("benchmark timed out")


class Heartbeat:
    def __init__(self) -> None:
        self.gaps: list[float] = []
        self.clock = QElapsedTimer()
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._beat)
        self.last = 0

    def start(self) -> None:
        self.gaps.clear()
        self.clock.start()
        self.last = self.clock.nsecsElapsed()
        self.timer.start()

    def stop(self) -> dict[str, float]:
        self.timer.stop()
        g = sorted(self.gaps)
        p99 = g[min(len(g) - 1, int(len(g) * 0.99))] if g else 0.0
        return {"longest_ms": round(max(g, default=0.0), 1), "p99_ms": round(p99, 1), "beats": len(g)}

    def _beat(self) -> None:
        now = self.clock.nsecsElapsed()
        self.gaps.append((now - self.last) / 1e6)
        self.last = now


def idle_wait(seconds: float) -> None:
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="footnote-uibench-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "qsettings"))
    result: dict[str, object] = {"benchmark": "ui"}
    result.update(startup(tmp))

    from core.settings import Settings
    from desktop.app import make_app
    from desktop.services import Services
    from ui.main_window import MainWindow

    app = make_app()
    data = tmp / "data"
    Settings(max_answer_tokens=96, temperature=0.0, n_ctx=2048, top_k=3).save(data)
    services = Services(data)
    w = MainWindow(services)
    w.resize(1200, 760)
    w.show()
    w.start()
    pump(lambda: services.state == "ready", 180)
    seed = tmp / "seed.md"
    seed.write_text("# Lighthouses\n\nThe Eddystone lighthouse stands on rocks fourteen kilometres south of "
                    "Plymouth; the present tower was finished in 1882.\n", encoding="utf-8")
    w.import_paths([str(seed)])
    pump(lambda: not services.jobs, 120)

    hb = Heartbeat()
    hb.start()
    idle_wait(2.0)
    result["idle_baseline"] = hb.stop()

    docs = tmp / "docs"
    docs.mkdir()
    for i in range(10):  # about 200 chunks in all
        (docs / f"doc{i:02d}.md").write_text(
            f"# Harbour report {i}\n\n" + " ".join(
                f"Section {j} of report {i} covers tides, breakwaters, cranes and the ships that call." * 2
                for j in range(70)), encoding="utf-8")
    hb.start()
    t0 = time.monotonic()
    job = w.import_paths([str(docs)])
    assert job is not None
    w.chat.input.setPlainText("When was the present Eddystone lighthouse finished?")
    w.chat._submit(w.chat.input.toPlainText())
    pump(lambda: services.answer is not None and services.answer.is_finished and job.is_finished, 600)
    busy = hb.stop()
    chunks = sum(ev.total for ev in job.items.values() if ev.kind == "done")
    answer = services.answer
    assert answer is not None
    result["import_and_answer"] = dict(busy, chunks=chunks, seconds=round(time.monotonic() - t0, 2),
                                       answer_tokens=len(answer.token_times), answer_chars=len(answer.text))
    result["peak_rss_mb_after_one_answer"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["targets"] = {"longest_ms": 50, "window_shown_s": 2}
    w.close()
    app.quit()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
