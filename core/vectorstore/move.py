"""Moving a library's points from one vector store to another: local mode -> Qdrant Edge when a
library passes ``EDGE_THRESHOLD`` passages, and ``footnote store push URL`` / ``pull``.

The registry's chunk rows are the list of what to copy, in rowid order. The move records its target
and a rowid cursor in registry meta after each bounded batch, so a crash (even kill -9) loses
nothing: the old store stays the library's store, untouched, until the new one is complete, and the
next run resumes from the cursor (upserts are idempotent, so a batch copied twice is harmless).
Search keeps using the old store all along. Imports and removals during the move go to the old
store; the final step, under the index lock, copies what was added since, re-copies what changed,
deletes from the target what the library no longer has, checks the count, and switches the library
in one registry transaction. The old store is then renamed ``<folder>.moved-<time>`` and deleted.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import FootnoteError
from core.vectorstore import VectorStore, open_store, store_folder
from core.vectorstore.base import WRITE_BATCH

if TYPE_CHECKING:
    from core.store import Index

log = logging.getLogger(__name__)

SparseFn = Callable[[Sequence[str]], list[tuple[list[int], list[float]]]]
_KEYS = ("move_to", "move_url", "move_cursor", "move_started")


@dataclass(frozen=True)
class MoveProgress:
    done: int
    total: int
    target: str


def pending_move(index: Index) -> tuple[str, str] | None:
    """(kind, url) of a move that was started and not finished (a crash, a cancel, a quit)."""
    meta = index.format_info()
    kind = meta.get("move_to", "")
    if not kind:
        return None
    if kind == index.store_kind and meta.get("move_url", "") == index.store_url:
        index.set_meta(dict.fromkeys(_KEYS))  # finished; only the clean-up of the keys was cut off
        return None
    return kind, meta.get("move_url", "")


def _open_target(index: Index, kind: str, url: str, fresh: bool) -> VectorStore:
    folder = store_folder(index.data_dir, kind)
    if fresh and folder is not None and folder.exists():
        # A store of this kind left from before (the library was moved away from it): start clean.
        _discard(folder)
    return open_store(index.data_dir, kind, index.dim, url)


def _discard(folder: object) -> None:
    from pathlib import Path

    path = Path(str(folder))
    aside = path.with_name(f"{path.name}.moved-{time.strftime('%Y%m%d-%H%M%S')}-{time.monotonic_ns() % 10**6}")
    path.rename(aside)
    shutil.rmtree(aside, ignore_errors=True)


def _copy(index: Index, target: VectorStore, ids: Sequence[str], texts: dict[str, str], sparse_fn: SparseFn | None) -> int:
    """Copy these points from the library's store to ``target``, with sparse vectors made from the
    passage text where the source has none and the target searches keywords with them."""
    with index.lock:
        points = index.store.retrieve(list(ids), with_payload=True, with_vectors=True)
    if sparse_fn is not None and target.kind != "local" and target.has_sparse:
        lacking = [p for p in points if p.sparse is None]
        if lacking:
            made = sparse_fn([str(p.payload.get("text") or texts.get(p.id, "")) for p in lacking])
            for p, sv in zip(lacking, made):
                p.sparse = sv
    target.upsert(points)
    return len(points)


def move(index: Index, kind: str, url: str = "", sparse_fn: SparseFn | None = None,
         cancel: threading.Event | None = None, target: VectorStore | None = None) -> Iterator[MoveProgress]:
    """Move the library to the store ``kind`` (at ``url`` for a server), yielding progress. ``target``
    hands in an already open store (a test standing in for a server). Cancelling leaves the move
    recorded, to be resumed by the next call."""
    if kind == index.store_kind and url == index.store_url:
        return
    _ = index.store  # the source, recovered
    resumed = pending_move(index)
    fresh = resumed != (kind, url)
    if fresh:
        index.set_meta({"move_to": kind, "move_url": url, "move_cursor": "0", "move_started": str(time.time())})
    target = target or _open_target(index, kind, url, fresh)
    meta = index.format_info()
    cursor = int(meta.get("move_cursor", "0") or 0)
    started = float(meta.get("move_started", "0") or 0)
    where = target.describe()
    done, total = index.chunk_progress(cursor)
    log.info("store move kind=%s target=%s resumed=%s done=%d total=%d", kind, where, not fresh, done, total)
    try:
        yield MoveProgress(done, total, where)
        while True:
            if cancel is not None and cancel.is_set():
                log.info("store move paused done=%d total=%d", done, total)
                target.close()
                return
            rows = index.chunk_page(cursor, WRITE_BATCH)
            if not rows:
                break
            _copy(index, target, [r[1] for r in rows], {r[1]: r[2] for r in rows}, sparse_fn)
            cursor = rows[-1][0]
            index.set_meta({"move_cursor": str(cursor)})
            done = min(total, done + len(rows))
            yield MoveProgress(done, total, where)
        # The new shard is not searched yet: compacting it now (a child process) makes no one wait.
        target.compact()
        _finish(index, target, url, started, sparse_fn)
    except BaseException:
        try:
            target.close()
        except Exception:  # noqa: BLE001 - the move stays recorded and resumes
            pass
        raise
    yield MoveProgress(total, total, where)


def _finish(index: Index, target: VectorStore, url: str, started: float, sparse_fn: SparseFn | None) -> None:
    """Under the index lock (no import or removal in between): catch up, check, switch."""
    with index.lock:
        cursor = int(index.format_info().get("move_cursor", "0") or 0)
        while rows := index.chunk_page(cursor, WRITE_BATCH):  # added since the last batch
            _copy(index, target, [r[1] for r in rows], {r[1]: r[2] for r in rows}, sparse_fn)
            cursor = rows[-1][0]
        wanted = index.chunk_point_ids()
        have = set(target.ids())
        extra = sorted(have - wanted)
        target.delete_ids(extra)  # removed or aborted during the move
        again = sorted((wanted - have) | index.point_ids_changed_since(started))
        for i in range(0, len(again), WRITE_BATCH):  # re-imported or stamped during the move
            _copy(index, target, again[i:i + WRITE_BATCH], {}, sparse_fn)
        expected = index.ready_chunk_count()
        points = target.count()
        if points < expected:
            raise FootnoteError(f"{target.describe()}: the moved store holds {points} of the library's "
                                f"{expected} passages; the library stays on its current store")
        old = index.switch_store(target, url, extra_meta=dict.fromkeys(_KEYS))
        log.info("store move done kind=%s points=%d removed_extra=%d recopied=%d", target.kind, points,
                 len(extra), len(again))
    if old is not None:
        old_folder = old.folder
        old.close()
        if old_folder is not None and old_folder.exists():
            _discard(old_folder)
