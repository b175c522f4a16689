"""Compacting a Qdrant Edge shard: its appendable segment becomes an immutable one, in a child process.

An Edge shard takes every upsert into an appendable segment, whose keyword (sparse) index and
payload indexes live in memory and are rebuilt each time the shard opens. Measured on 2 cores with
100,000 passages: opening took 0.79 s and the search process peaked at 378 MB; after Qdrant's own
optimizer had turned the segment into an immutable one (on-disk keyword index, memory-mapped
vectors) opening took 0.26 s and 190 MB. No HNSW graph is built (``m=0``): exact search over
8-bit vectors is fast enough (see ``edge.py``), and building HNSW took minutes.

``optimize()`` holds the GIL for its whole run (7 s for those 100,000 passages), so it never runs
in the window's process: a spawned child opens the shard, optimizes and closes it while the parent
has the shard closed. The child dies with its parent (``PR_SET_PDEATHSIG``), so quitting never
leaves it holding the shard; an optimization cut short is discarded by Qdrant when the shard next
opens, and every point is still there.

When: at the end of a move to Edge (before the library switches to the new shard, so search never
waits), and after an import once ``COMPACT_AFTER`` passages have been written since the last time.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Passages written to a shard since it was last compacted after which it is compacted again.
COMPACT_AFTER = 20_000
#: Where the shard counts the passages written since its last compaction.
WRITTEN_FILE = "footnote_written.json"


def read_written(folder: Path) -> int:
    try:
        data = json.loads((folder / WRITTEN_FILE).read_text(encoding="utf-8"))
        return int(data.get("written", 0)) if isinstance(data, dict) else 0
    except (OSError, ValueError, TypeError):
        return 0


def write_written(folder: Path, written: int) -> None:
    tmp = folder / (WRITTEN_FILE + ".tmp")
    try:
        tmp.write_text(json.dumps({"written": written}), encoding="utf-8")
        tmp.replace(folder / WRITTEN_FILE)
    except OSError as exc:  # only a hint for when to compact: never fail a write for it
        log.warning("cannot record written passages folder=%s error=%s", folder, exc)


def read_shard_config(folder: Path) -> dict[str, Any]:
    """The configuration Qdrant Edge recorded for the shard in ``folder`` ({} when unreadable)."""
    try:
        data = json.loads((folder / "edge_config.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def optimizer_config(folder: Path) -> Any:
    """The shard's own vectors (as recorded when it was made) with no HNSW graph and every
    appendable segment due for optimization."""
    import qdrant_edge as qe

    stored = read_shard_config(folder)
    vectors = {}
    for name, params in (stored.get("vectors") or {}).items():
        # Recorded as "turbo8", "float32", ... and "Dot", "Cosine", ...; an unknown one is an error
        # (the compaction fails and the shard stays as it is), never a silently different config.
        datatype = params.get("datatype")
        dt = getattr(qe.VectorStorageDatatype, str(datatype).capitalize()) if datatype else None
        distance = getattr(qe.Distance, str(params.get("distance", "Dot")).capitalize())
        vectors[name] = qe.EdgeVectorParams(size=int(params["size"]), distance=distance, datatype=dt)
    sparse = {}
    for name, params in (stored.get("sparse_vectors") or {}).items():
        sparse[name] = qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if params.get("modifier") == "idf" else None)
    return qe.EdgeConfig(vectors=vectors or None, sparse_vectors=sparse or None,
                         hnsw_config=qe.HnswIndexConfig(m=0, ef_construct=100, full_scan_threshold=10_000),
                         optimizers=qe.EdgeOptimizersConfig(indexing_threshold=1))


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when the thread that started it ends (the parent quit)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _child(folder: str, parent: int) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the parent was gone before the line above took effect
        os._exit(3)
    import qdrant_edge as qe

    shard = qe.EdgeShard.load(folder, optimizer_config(Path(folder)))
    try:
        shard.optimize()
        shard.flush()
    finally:
        shard.close()


def compact_shard(folder: Path) -> bool:
    """Optimize the (closed) shard in ``folder`` in a spawned child; True when it finished. A
    failure is logged and leaves the shard as it was (still complete and searchable)."""
    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_child, args=(str(folder), os.getpid()), name="footnote-compact", daemon=True)
    proc.start()
    try:
        proc.join()
    except BaseException:  # Ctrl+C: the child must let go of the shard before it is opened again
        proc.kill()
        proc.join()
        raise
    ok = proc.exitcode == 0
    log.info("edge compact folder=%s ok=%s exit=%s ms=%.0f", folder, ok, proc.exitcode,
             (time.perf_counter() - t0) * 1000)
    return ok
