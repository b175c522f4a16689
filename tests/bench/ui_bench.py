"""UI benchmark: event-loop stalls (p99 and longest) while importing 1,000 files and answering,
start-up with an empty and with a 50,000-chunk library (window shown, list shown, ready, and the
stalls while it opens), quit time (SIGTERM to process gone) while importing and while answering,
and peak RSS after one answer. Prints one JSON object.

    xvfb-run -a env -u FOOTNOTE_DEFAULT_LLM .venv/bin/python tests/bench/ui_bench.py [--chunks 50000]
        [--large-store edge|local]

The large library is on Qdrant Edge by default, where Footnote keeps a library past 20,000
passages; ``--large-store local`` opens one from before that move (local mode loads every point).

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
import threading
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


class Lines:
    """A child's stderr read on a thread (select on a buffered pipe misses lines already read)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, text: str, timeout: float) -> float:
        """When a line containing ``text`` arrived (monotonic), or -1 after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, line in list(self.lines):
                if text in line:
                    return at
            time.sleep(0.02)
        return -1.0

    def join(self) -> list[str]:
        self._thread.join(5)
        return [line for _at, line in self.lines]


def build_library(data: Path, n_chunks: int, store: str = "edge") -> dict[str, float | str]:
    """A library of ``n_chunks`` passages written through the engine's own store (begin, write,
    commit), each with the real embedding of its text: the texts come from a pool of distinct
    generated sentences, embedded once, so building 50,000 passages takes a minute, not an hour.

    ``store`` edge is where Footnote keeps a library past 20,000 passages (it moves there on its
    own, and an import of that size ends compacted); local is a library from before that move."""
    import numpy as np

    from core.documents import Chunk, document_id_for
    from core.engine import Engine
    from core.settings import Settings

    t0 = time.monotonic()
    engine = Engine(data, Settings(vector_store=store))
    try:
        pool = [f"Harbour log {i}: the {w} crane moved {i % 97} containers while the tide was {t}."
                for i, (w, t) in enumerate((w, t) for w in ("north", "south", "east", "west", "old")
                                           for t in ("rising", "falling", "slack", "high"))]
        pool = [f"{text} Entry {k}." for k in range(100) for text in pool][:2000]
        vectors = engine.embedder.embed(pool)
        sparse = engine.sparse_embedder.embed(pool) if engine._qdrant_keywords() else None
        per_doc = 100
        for d in range(max(1, n_chunks // per_doc)):
            source = str(data / "generated" / f"log{d:05d}.md")
            doc_id = document_id_for(source)
            key = engine.index.begin(doc_id, source, f"Harbour log {d}", "markdown", f"hash{d}")
            idx = [(d * per_doc + j) % len(pool) for j in range(per_doc)]
            chunks = [Chunk(doc_id, j, pool[i], 0, len(pool[i]), title=f"Harbour log {d}") for j, i in enumerate(idx)]
            engine.index.write_chunks(key, chunks, np.asarray(vectors)[idx],
                                      [sparse[i] for i in idx] if sparse is not None else None)
            engine.index.commit(doc_id, key, f"Harbour log {d}", "markdown", f"hash{d}", per_doc)
        engine.index.compact_store_if_due()  # as the end of an import does
        chunks_total = engine.index.ready_chunk_count()
        kind = engine.index.store_kind
    finally:
        engine.close()
    return {"chunks": chunks_total, "store": kind, "build_s": round(time.monotonic() - t0, 1)}


def spawn_startup(data: Path, tmp: Path) -> dict[str, float]:
    """A fresh ``footnote`` process on ``data``: seconds from spawn to the window shown, to the
    library listed (engine opened), and to ready (search model loaded)."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"),
               XDG_CONFIG_HOME=str(tmp / "config"))
    env.pop("FOOTNOTE_DATA_DIR", None)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "desktop.main", "--data-dir", str(data), "-v"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    marks = {"window shown": -1.0, "engine state=loading": -1.0, "engine state=ready": -1.0}
    lines = Lines(proc)
    try:
        for key in marks:
            at = lines.wait_for(key, 300)
            marks[key] = round(at - t0, 3) if at > 0 else -1.0
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    return {"spawn_to_window_shown_s": marks["window shown"], "spawn_to_library_open_s": marks["engine state=loading"],
            "spawn_to_ready_s": marks["engine state=ready"]}


def quit_time(data: Path, state: str, tmp: Path, *args: str) -> dict[str, float | int | str]:
    """The real app (tests/ui/quit_app.py) in ``state``; seconds from SIGTERM to the process gone."""
    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"), QUIT_TEST_STATE=state,
               XDG_CONFIG_HOME=str(tmp / "config"))
    env.pop("FOOTNOTE_DATA_DIR", None)
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "ui" / "quit_app.py"), "--data-dir", str(data),
                             *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    reader = Lines(proc)
    try:
        reached = reader.wait_for(f"quit-test state={state}", 300) > 0
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        seconds = round(time.monotonic() - t0, 3)
    finally:
        if proc.poll() is None:
            proc.kill()
    noise = [ln for ln in reader.join() if ln.strip() and not ln.startswith("quit-test")]
    return {"sigterm_to_exit_s": seconds, "exit_code": code, "state_reached": reached, "stderr_lines": len(noise)}


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


CHUNKS = 50_000


def main() -> int:
    global CHUNKS
    if "--chunks" in sys.argv:
        CHUNKS = int(sys.argv[sys.argv.index("--chunks") + 1])
    large_store = sys.argv[sys.argv.index("--large-store") + 1] if "--large-store" in sys.argv else "edge"
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
    for i in range(1000):  # 1,000 files of one or two passages each
        (docs / f"note{i:04d}.md").write_text(
            f"# Harbour note {i}\n\n" + " ".join(
                f"Note {i}, line {j}: tides, breakwaters, cranes and the ships that call." for j in range(8)),
            encoding="utf-8")
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
    t0 = time.monotonic()
    w.close()
    result["in_process_close_s"] = round(time.monotonic() - t0, 3)
    app.processEvents()

    # Quitting the real app while it works (SIGTERM, as a logout or kill sends).
    quit_data = tmp / "quit"
    Settings(max_answer_tokens=1500, temperature=0.0, n_ctx=2048, top_k=3).save(quit_data)
    from core.engine import Engine

    engine = Engine(quit_data)
    try:
        list(engine.ingest([str(seed)]))
    finally:
        engine.close()
    result["quit_while_importing"] = quit_time(quit_data, "importing", tmp, "--folder", str(docs))
    result["quit_while_answering"] = quit_time(quit_data, "answering", tmp)
    result["quit_while_answer_starts"] = quit_time(quit_data, "asking", tmp)
    result["quit_idle"] = quit_time(quit_data, "idle", tmp)

    # Start-up with a large library: a fresh process, then the stalls in this one while it opens.
    big = tmp / "big"
    Settings().save(big)
    large: dict[str, object] = dict(build_library(big, CHUNKS, large_store))
    result["large_library"] = large
    large.update(spawn_startup(big, tmp))
    services2 = Services(big)
    w2 = MainWindow(services2)
    w2.resize(1200, 760)
    hb.start()
    t0 = time.monotonic()
    w2.show()
    w2.start()
    pump(lambda: w2.library.model.rowCount() > 0, 300)
    listed = time.monotonic() - t0
    pump(lambda: services2.state == "ready", 300)
    opening = hb.stop()
    large.update(in_process_list_shown_s=round(listed, 3), in_process_ready_s=round(time.monotonic() - t0, 3),
                 stalls_while_opening=opening)
    w2.close()
    result["targets"] = {"longest_ms": 50, "window_shown_s": 1.5, "quit_s": 2}
    result["note"] = "shared 2-core machine under load from other work: figures are noisy"
    app.quit()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
