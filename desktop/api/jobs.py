"""Imports started through the API: one queue, one import at a time, progress from the engine's
ingest events, kept for ``GET /v1/jobs/{id}``."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core.errors import FootnoteError
from core.events import UNCHANGED, IngestEvent

log = logging.getLogger(__name__)

KEEP_JOBS = 200  # finished jobs remembered, oldest forgotten first

#: ``ingest(sources, crawl_depth, max_pages, cancel)``: the engine's import, however the host runs it.
Ingest = Callable[[list[str], int, int, threading.Event], Iterator[IngestEvent]]


@dataclass
class ItemState:
    source: str
    status: str = "queued"  # queued | reading | embedding | done | unchanged | skipped | failed | removed
    title: str = ""
    document_id: str = ""
    done: int = 0
    total: int = 0
    error: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"source": self.source, "status": self.status, "title": self.title, "document_id": self.document_id,
                "chunks_done": self.done, "chunks_total": self.total, "error": self.error or None}


@dataclass
class ImportJob:
    id: str
    sources: list[str]
    crawl_depth: int = 0
    max_pages: int = 20
    status: str = "queued"  # queued | running | done | failed | cancelled
    error: str = ""
    created: float = field(default_factory=time.time)
    finished: float | None = None
    items: dict[str, ItemState] = field(default_factory=dict)
    cancel: threading.Event = field(default_factory=threading.Event)

    def on_event(self, ev: IngestEvent) -> None:
        item = self.items.get(ev.source)
        if item is None:
            item = self.items[ev.source] = ItemState(ev.source)
        item.title = ev.title or item.title
        item.document_id = ev.document_id or item.document_id
        if ev.kind == "started":
            item.status = "reading"
        elif ev.kind in ("chunked", "embedded"):
            item.status = "embedding"
            item.total = ev.total or item.total
            item.done = ev.done if ev.kind == "embedded" else item.done
        elif ev.kind == "done":
            item.status, item.done, item.total = "done", ev.total, ev.total
        elif ev.kind == "skipped":
            item.status = "unchanged" if ev.error == UNCHANGED else "skipped"
            item.error = "" if ev.error == UNCHANGED else ev.error
        elif ev.kind == "failed":
            item.status, item.error = "failed", ev.error
        elif ev.kind == "removed":
            item.status = "removed"

    def as_json(self) -> dict[str, Any]:
        items = list(self.items.values())
        done = sum(i.done for i in items)
        total = sum(i.total for i in items)
        return {
            "id": self.id, "object": "import.job", "status": self.status, "sources": list(self.sources),
            "crawl_depth": self.crawl_depth, "created": int(self.created),
            "finished": None if self.finished is None else int(self.finished),
            "error": self.error or None,
            "progress": {"items_seen": len(items),
                         "items_finished": sum(1 for i in items if i.status not in ("queued", "reading", "embedding")),
                         "chunks_done": done, "chunks_total": total},
            "documents": [i.document_id for i in items if i.status in ("done", "unchanged") and i.document_id],
            "items": [i.as_json() for i in items],
        }


class ImportJobs:
    """The API's import queue: jobs run one after another on one worker thread."""

    def __init__(self, ingest: Ingest, on_finished: Callable[[], None] | None = None) -> None:
        self._ingest = ingest
        self._on_finished = on_finished
        self._jobs: OrderedDict[str, ImportJob] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="footnote-api-import")

    def submit(self, sources: list[str], crawl_depth: int = 0, max_pages: int = 20) -> ImportJob:
        job = ImportJob("job-" + uuid.uuid4().hex[:16], list(sources), crawl_depth, max_pages)
        for src in sources:
            job.items[src] = ItemState(src)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs.values()))
                if oldest.finished is None:
                    break
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job)
        log.info("api import queued job=%s sources=%d depth=%d", job.id, len(sources), crawl_depth)
        return job

    def get(self, job_id: str) -> ImportJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self) -> list[ImportJob]:
        with self._lock:
            return list(self._jobs.values())

    def _run(self, job: ImportJob) -> None:
        if job.cancel.is_set():
            job.status, job.finished = "cancelled", time.time()
            return
        job.status = "running"
        try:
            for ev in self._ingest(job.sources, job.crawl_depth, job.max_pages, job.cancel):
                # An item the engine names differently (a resolved path, a normalised URL) replaces
                # the placeholder it was queued under.
                if ev.kind == "started" and ev.source not in job.items:
                    placeholder = next((s for s, i in job.items.items() if i.status == "queued"), None)
                    if placeholder is not None and len(job.sources) == 1 and placeholder == job.sources[0]:
                        job.items.pop(placeholder)
                job.on_event(ev)
            failed = [i for i in job.items.values() if i.status == "failed"]
            if job.cancel.is_set():
                job.status = "cancelled"
            elif failed and len(failed) == len(job.items):
                job.status, job.error = "failed", failed[0].error
            else:
                job.status = "done"
        except FootnoteError as exc:
            job.status, job.error = "failed", str(exc)
        except Exception as exc:  # noqa: BLE001 - one job's bug must not stop the queue
            log.error("api import failed job=%s error=%s", job.id, type(exc).__name__, exc_info=exc)
            job.status, job.error = "failed", f"the import failed unexpectedly ({type(exc).__name__})"
        finally:
            for item in job.items.values():
                if item.status == "queued" and job.status != "done":
                    item.status = "skipped" if job.status == "cancelled" else "failed"
            job.finished = time.time()
            log.info("api import finished job=%s status=%s", job.id, job.status)
            if self._on_finished is not None:
                try:
                    self._on_finished()
                except Exception as exc:  # noqa: BLE001 - a listener's failure is not the import's
                    log.warning("import listener failed error=%s", type(exc).__name__)

    def close(self) -> None:
        for job in self.list():
            job.cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
