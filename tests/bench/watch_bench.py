"""Watched folders: how long from a file change until search finds it, and what watching costs.

- change -> searchable: a file written (new), edited in place and renamed inside a watched
  folder, through the same path as ``footnote watch run`` (watchdog observer -> debounce ->
  ``Engine.sync_folder``), polled with a keyword search. Target < 5 s for one file. The raw
  figure beside it is ``Engine.ingest`` of the same kind of file, called directly.
- a rename re-embeds nothing (passages embedded during the rename, from the engine's counter).
- catch-up of an unchanged folder of N files (default 10,000): ``core.watch`` scan + plan
  against a raw ``os.walk`` + ``os.stat`` of the same tree; and the time to attach the
  observer to that tree (one inotify watch per folder).

Prints one JSON object. ``--files N`` changes the size of the big folder.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.engine import Engine  # noqa: E402
from core.watch import FileState, WatchRegistry, plan, scan  # noqa: E402
from desktop.watcher import FolderObserver  # noqa: E402

POLL_S = 0.05


def wait_found(engine: Engine, lock: threading.Lock, word: str, name: str, deadline_s: float = 60.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < deadline_s:
        with lock:
            hits = engine.search(word, top_k=1, mode="sparse")
        if hits and hits[0].source.endswith(name) and word in hits[0].text:
            return time.perf_counter() - t0
        time.sleep(POLL_S)
    raise SystemExit(f"{name}: not searchable after {deadline_s} s")


def latency(root: Path, trials: int) -> dict[str, object]:
    folder = root / "watched"
    folder.mkdir()
    engine = Engine(root / "data")
    engine.warm_up()
    WatchRegistry(engine.data_dir).add(folder)
    lock = threading.Lock()
    stop = threading.Event()
    batches: list[tuple[str, list[str] | None]] = []
    cond = threading.Condition()

    def on_batch(f: str, paths: list[str] | None) -> None:
        with cond:
            batches.append((f, paths))
            cond.notify()

    def consumer() -> None:
        while not stop.is_set():
            with cond:
                if not batches:
                    cond.wait(0.1)
                    continue
                f, paths = batches.pop(0)
            with lock:
                for _ in engine.sync_folder(f, paths):
                    pass

    observer = FolderObserver(engine.data_dir, on_batch)
    observer.start()
    worker = threading.Thread(target=consumer, daemon=True)
    worker.start()
    time.sleep(1.0)  # the observer attaches and the (empty) catch-up runs
    new_s, edit_s, rename_s, raw_s = [], [], [], []
    rename_embedded = 0
    try:
        for i in range(trials):
            name = f"note{i}.md"
            path = folder / name
            path.write_text(f"# Note {i}\n\nA short note whose code word is alpha{i}x.\n")
            new_s.append(wait_found(engine, lock, f"alpha{i}x", name))
            with path.open("a") as fh:
                fh.write(f"\nAn added line with the code word beta{i}x.\n")
            edit_s.append(wait_found(engine, lock, f"beta{i}x", name))
            with lock:
                before = engine.embedded_passages
            os.rename(path, folder / f"moved{i}.md")
            rename_s.append(wait_found(engine, lock, f"alpha{i}x", f"moved{i}.md"))
            with lock:
                rename_embedded += engine.embedded_passages - before
            raw = root / f"raw{i}.md"
            raw.write_text(f"# Raw {i}\n\nA short note whose code word is gamma{i}x.\n")
            t0 = time.perf_counter()
            with lock:
                for _ in engine.ingest([str(raw)]):
                    pass
            raw_s.append(time.perf_counter() - t0)
    finally:
        observer.stop()
        stop.set()
        worker.join(5)
        engine.close()

    def summary(xs: list[float]) -> dict[str, float]:
        return {"median_s": round(statistics.median(xs), 3), "max_s": round(max(xs), 3)}

    return {"trials": trials, "new_file": summary(new_s), "edited_in_place": summary(edit_s),
            "renamed": summary(rename_s), "raw_ingest_one_file": summary(raw_s),
            "passages_embedded_by_renames": rename_embedded, "target_s": 5.0,
            "meets_target": max(new_s + edit_s + rename_s) < 5.0}


def big_folder(root: Path, n: int) -> dict[str, object]:
    folder = root / "big"
    per = 100
    for i in range(n):
        sub = folder / f"d{i // per:03}"
        if i % per == 0:
            sub.mkdir(parents=True)
        (sub / f"f{i:05}.txt").write_text(f"file {i}\n")
    src = str(folder.resolve())

    t0 = time.perf_counter()
    count = 0
    for dirpath, _dirs, files in os.walk(src):
        for f in files:
            os.stat(os.path.join(dirpath, f))
            count += 1
    raw_s = time.perf_counter() - t0

    first = scan(src, [src])
    known = {s: FileState(*st) for s, st in first.files.items()}
    library = {s: "ready" for s in first.files}
    t0 = time.perf_counter()
    found = scan(src, [src])
    todo = plan(found, known, library, [src])
    scan_s = time.perf_counter() - t0
    assert not todo.imports and not todo.removals and todo.unchanged == n

    data = root / "bigdata"
    WatchRegistry(data).add(folder)
    got: list[float] = []
    attached = threading.Event()
    observer = FolderObserver(data, lambda f, p: (attached.set() if p is None else got.append(time.perf_counter())),
                              catch_up=True)
    t0 = time.perf_counter()
    observer.start()
    attached.wait(60)
    attach_s = time.perf_counter() - t0
    try:
        t1 = time.perf_counter()
        (folder / "d050" / "f05000.txt").write_text("changed\n")
        deadline = time.perf_counter() + 30
        while not got and time.perf_counter() < deadline:
            time.sleep(0.02)
        batch_s = (got[0] - t1) if got else None
    finally:
        observer.stop()
    return {"files": n, "folders": (n + per - 1) // per, "raw_walk_stat_s": round(raw_s, 3),
            "catch_up_scan_plan_s": round(scan_s, 3), "scan_vs_raw": round(scan_s / raw_s, 2),
            "observer_attach_s": round(attach_s, 3),
            "change_to_batch_s": round(batch_s, 3) if batch_s is not None else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=5)
    ap.add_argument("--files", type=int, default=10_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        out = {"latency": latency(root, args.trials), "big_folder": big_folder(root, args.files)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
