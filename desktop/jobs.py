"""Jobs: one import, one answer, one model download, each a QObject whose signals the window
connects to. The worker feeds a job; the job turns engine events into records (``desktop.views``)
and emits them on the GUI thread."""

from __future__ import annotations

import time
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.events import UNCHANGED, IngestEvent
from desktop.views import AnswerResult, DownloadView, ImportSummary, citation_from, result_from_answer
from desktop.workers import Worker, emit


class ImportJob(QObject):
    """One import (a drop, a URL). Aggregates engine events into per-item and per-job progress."""

    event = Signal(object)  # type: ignore[assignment]  # IngestEvent; shadows QObject.event, which nothing calls
    progress = Signal()
    finished = Signal(object)  # ImportSummary

    def __init__(self, label: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.label = label
        self.items: dict[str, IngestEvent] = {}
        self.worker: Worker | None = None
        self.started_at = time.monotonic()
        self.is_finished = False
        self.summary: ImportSummary | None = None
        self._cancelled = False
        self._item_high: dict[str, float] = {}  # each item's progress, never moving back
        self._shown = 0.0  # the job's figure, never moving back

    def cancel(self) -> None:
        self._cancelled = True
        if self.worker is not None:
            self.worker.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    def chunk_progress(self) -> tuple[int, int]:
        """(embedded, known total) over the items seen so far."""
        done = total = 0
        for ev in self.items.values():
            if ev.kind in ("embedded", "done", "chunked"):
                done += ev.done if ev.kind != "chunked" else 0
                total += ev.total
        return done, total

    def counts(self) -> tuple[int, int]:
        """(items finished, items seen)."""
        finished = sum(1 for ev in self.items.values() if ev.kind in ("done", "skipped", "failed", "removed"))
        return finished, len(self.items)

    def item_fraction(self, source: str) -> float:
        """One item's progress, 0 to 1: its chunks embedded so far; 1 once it is done, skipped or
        failed. It never moves back, even when a retry starts the item over."""
        return self._item_high.get(source, 0.0)

    def fraction(self) -> float:
        """The whole job, 0 to 1. Items are found as the import walks a folder or a site, so each new
        one would pull the plain average back; the figure shown holds until the work catches up."""
        if self.is_finished:
            return 1.0
        if self._item_high:
            raw = sum(self._item_high.values()) / len(self._item_high)
            self._shown = max(self._shown, min(1.0, raw))
        return self._shown

    def _on_event(self, ev: IngestEvent) -> None:
        self.items[ev.source] = ev
        if ev.kind in ("done", "skipped", "failed"):
            now = 1.0
        elif ev.kind == "embedded" and ev.total:
            now = min(1.0, ev.done / ev.total)
        else:
            now = 0.0
        self._item_high[ev.source] = max(self._item_high.get(ev.source, 0.0), now)
        emit(self.event, ev)
        emit(self.progress)

    def _finish(self, error: str | None = None) -> None:
        if self.is_finished:
            return
        self.is_finished = True
        failed = [ev.error for ev in self.items.values() if ev.kind == "failed"]
        if error:
            failed.append(error)
        summary = ImportSummary(
            imported=sum(1 for ev in self.items.values() if ev.kind == "done"),
            unchanged=sum(1 for ev in self.items.values() if ev.kind == "skipped" and ev.error == UNCHANGED),
            skipped=[ev.error for ev in self.items.values() if ev.kind == "skipped" and ev.error != UNCHANGED],
            failed=failed,
            cancelled=self._cancelled,
            seconds=time.monotonic() - self.started_at,
        )
        self.summary = summary
        emit(self.finished, summary)


class AnswerJob(QObject):
    """One question. ``stop()`` ends it for the user at once; the worker notices between tokens."""

    retrieved = Signal(list)  # list[CitationView]: the candidate passages
    status = Signal(str)  # a line to show while waiting ("a summary is on its way…")
    token = Signal(str)
    done = Signal(object)  # AnswerResult
    failed = Signal(str)
    finished = Signal()

    def __init__(self, question: str, conversation_id: str | None, parent: QObject | None = None,
                 document_ids: list[str] | None = None) -> None:
        super().__init__(parent)
        self.question = question
        self.conversation_id = conversation_id
        self.document_ids = list(document_ids or [])
        self.worker: Worker | None = None
        self.text = ""
        self.is_finished = False
        self.stopped = False
        self.token_times: list[float] = []

    def stop(self) -> None:
        if self.is_finished:
            return
        self.stopped = True
        if self.worker is not None:
            self.worker.cancel()
        self._end(AnswerResult(self.text, [], stopped=True, stop_reason="user", scope=self.document_ids))

    def _on_event(self, ev: Any) -> None:
        """One ``AnswerEvent``: ``retrieved``, ``status``, ``token``, ``done`` or ``error``."""
        if self.is_finished:
            return  # stopped: late tokens from the worker are dropped
        kind = getattr(ev, "kind", None)
        if kind == "retrieved":
            chunks = getattr(ev, "chunks", None) or []
            emit(self.retrieved, [citation_from(c, i) for i, c in enumerate(chunks, start=1)])
        elif kind == "status":
            emit(self.status, str(getattr(ev, "text", "") or ""))
        elif kind == "token":
            piece = str(getattr(ev, "text", "") or "")
            self.text += piece
            self.token_times.append(time.monotonic())
            emit(self.token, piece)
        elif kind == "done":
            answer = getattr(ev, "answer", None)
            # The streamed text may differ from the final one (markers corrected after the
            # grounding check): the finished answer is the one drawn.
            result = (result_from_answer(answer, fallback_text=self.text, stopped=self.stopped)
                      if answer is not None else AnswerResult(self.text, [], stopped=self.stopped))
            self.text = result.text
            self._end(result)
        elif kind == "error":
            self._fail(str(getattr(ev, "text", "") or "the answer failed"))

    def _fail(self, message: str) -> None:
        if self.is_finished:
            return
        self.is_finished = True
        emit(self.failed, message)
        emit(self.finished)

    def _end(self, result: AnswerResult) -> None:
        if self.is_finished:
            return
        self.is_finished = True
        emit(self.done, result)
        emit(self.finished)


class ModelJob(QObject):
    """One model download. ``cancel()`` stops it; the store keeps the partial file to resume."""

    progress = Signal(object)  # DownloadView
    installed = Signal(str)  # the installed file's path
    cancelled = Signal()
    failed = Signal(str)  # a full message naming the model and the reason
    finished = Signal()

    #: Progress reaches the GUI thread at most this often; a fast download calls back per block.
    PROGRESS_EVERY_S = 0.1

    def __init__(self, model_id: str, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.model_id = model_id
        self.name = name
        self.worker: Worker | None = None
        self.is_finished = False
        self.last: DownloadView | None = None
        self._last_emit = 0.0

    def cancel(self) -> None:
        if self.worker is not None:
            self.worker.cancel()

    def _on_progress(self, p: Any) -> None:
        """Called on the download thread; the signal is queued to the GUI thread."""
        view = DownloadView(int(getattr(p, "done_bytes", 0) or 0), int(getattr(p, "total_bytes", 0) or 0),
                            float(getattr(p, "bytes_per_s", 0.0) or 0.0), getattr(p, "eta_s", None))
        self.last = view
        now = time.monotonic()
        if now - self._last_emit < self.PROGRESS_EVERY_S and view.done_bytes < view.total_bytes:
            return
        self._last_emit = now
        emit(self.progress, view)

    def _finish(self, outcome: str, value: str = "") -> None:
        if self.is_finished:
            return
        self.is_finished = True
        if outcome == "installed":
            emit(self.installed, value)
        elif outcome == "cancelled":
            emit(self.cancelled)
        else:
            emit(self.failed, value)
        emit(self.finished)
