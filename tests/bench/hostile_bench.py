"""Hostile input: the generated corpus imported in one batch by the real CLI, and parse throughput
in the guarded workers against in-process parsing, in the same run.

1. ``batch``: ``footnote ingest`` on the hostile corpus (tests/hostile_corpus.py at full scale) plus
   two hostile pages from a local HTTP server. Reports the wall time and the peak memory of the
   whole process tree (CLI process and parse workers, sampled every 50 ms from /proc), and each
   item's outcome. Targets: under 5 minutes, under 3 GB.
2. ``parse``: many small files (text, Markdown, HTML) read with ``load_path`` in this process, then
   through ``ParseGuard.map`` (workers started cold, and warm). Target: guarded >= 0.8x in-process.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.engine import _small_file  # noqa: E402
from core.ingest.guard import ParseGuard  # noqa: E402
from core.ingest.loaders import load_path  # noqa: E402
from tests.hostile_corpus import DEEP_PAGE, build  # noqa: E402
from tests.httpserver import HttpServer  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def _tree_rss(root: int) -> tuple[int, int, int]:
    """Resident bytes of ``root`` and all its descendants: (tree, root alone, largest descendant)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
            with open(f"/proc/{entry}/statm", "rb") as fh:
                resident = int(fh.read().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        pid, ppid = int(entry), int(fields[1])
        children.setdefault(ppid, []).append(pid)
        rss[pid] = resident
    total, largest, stack = 0, 0, [root]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        if pid != root:
            largest = max(largest, rss.get(pid, 0))
        stack.extend(children.get(pid, []))
    return total, rss.get(root, 0), largest


def batch(tmp: Path) -> dict[str, object]:
    docs = build(tmp / "docs", tmp / "outside", scale=1.0)
    data = tmp / "data"
    with HttpServer() as server:
        server.route("/deep", body=DEEP_PAGE)
        server.route("/zip", body=b"PK\x03\x04" + bytes(4096), content_type="text/html")
        cmd = [sys.executable, "-m", "desktop.main", "--data-dir", str(data), "--json", "ingest", str(docs),
               server.url("/deep"), server.url("/zip")]
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peak = [0, 0, 0]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                for i, value in enumerate(_tree_rss(proc.pid)):
                    peak[i] = max(peak[i], value)
                done.wait(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        out, err = proc.communicate(timeout=1800)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
    report = json.loads(out) if out.strip() else {}
    outcomes = {}
    for key, label in (("imported", "imported"), ("skipped", "skipped"), ("failed", "failed")):
        for row in report.get(key, []):
            name = row["source"].rsplit("/", 1)[-1]
            outcomes[name] = label if label == "imported" else f"{label}: {row.get('error') or row.get('reason')}"
    return {
        "exit_code": proc.returncode,
        "items": len(outcomes),
        "wall_s": round(wall, 1),
        "peak_tree_rss_mb": round(peak[0] / 1024 / 1024),
        "peak_main_process_rss_mb": round(peak[1] / 1024 / 1024),
        "peak_one_worker_rss_mb": round(peak[2] / 1024 / 1024),
        "target_wall_s": 300,
        "target_peak_mb": 3072,
        "traceback_printed": "Traceback" in err,
        "outcomes": outcomes,
    }


def _small_files(folder: Path, n: int) -> list[Path]:
    rng = random.Random(3)
    words = "tide moon river stone field light market paper winter harbour engine garden".split()
    folder.mkdir(parents=True)
    files = []
    for i in range(n):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(80, 400)))
        kind = i % 3
        if kind == 0:
            path = folder / f"note{i}.txt"
            path.write_text(body)
        elif kind == 1:
            path = folder / f"page{i}.md"
            path.write_text(f"# Title {i}\n\n{body}\n\n## More\n\n{body[:200]}\n")
        else:
            path = folder / f"page{i}.html"
            path.write_text(f"<html><head><title>T{i}</title></head><body><h1>H</h1><p>{body}</p></body></html>")
        files.append(path)
    return files


def parse(tmp: Path, n: int = 600) -> dict[str, object]:
    files = _small_files(tmp / "small", n)
    for f in files[:20]:  # imports and caches warm for both sides
        load_path(f)
    t0 = time.perf_counter()
    for f in files:
        load_path(f)
    inproc = time.perf_counter() - t0
    guard = ParseGuard()
    t0 = time.perf_counter()
    cold_ok = sum(1 for _s, r in guard.map(((str(f), load_path, (f,)) for f in files), small=_small_file) if not isinstance(r, Exception))
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm_ok = sum(1 for _s, r in guard.map(((str(f), load_path, (f,)) for f in files), small=_small_file) if not isinstance(r, Exception))
    warm = time.perf_counter() - t0
    workers = guard.size
    guard.close()
    return {
        "files": n,
        "workers": workers,
        "in_process_files_per_s": round(n / inproc, 1),
        "guarded_cold_files_per_s": round(cold_ok / cold, 1),
        "guarded_warm_files_per_s": round(warm_ok / warm, 1),
        "ratio_cold": round(inproc / cold * cold_ok / n, 3),
        "ratio_warm": round(inproc / warm * warm_ok / n, 3),
        "target_ratio": 0.8,
    }


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        result = {"benchmark": "hostile", "parse": parse(Path(tmp)), "batch": batch(Path(tmp))}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
