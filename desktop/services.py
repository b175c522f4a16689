"""The narrow facade that widgets get instead of the engine.

Widgets never import FastEmbed, Qdrant or llama-cpp, and never call the engine on the GUI thread.
They call ``Services``; every engine call runs in a worker (``desktop.workers``) and comes back as
a signal or a callback on the GUI thread. The engine itself is opened in a worker too, so the
window appears before any model or index is touched.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from core.errors import FootnoteError, LibraryLockedError
from core.events import IngestEvent
from core.settings import Settings
from desktop.workers import Worker, WorkerPool, emit

if TYPE_CHECKING:
    from core.engine import Engine

log = logging.getLogger(__name__)

LOG_FILE = "footnote.log"
OPEN_TIMEOUT_S = 120.0

__all__ = [
    "AnswerJob", "AnswerResult", "CitationView", "DocumentView", "ImportJob", "ImportSummary", "IngestEvent",
    "KeyInfo", "Services", "Settings", "user_message",
]


def user_message(exc: BaseException, what: str) -> str:
    """A sentence for the status bar. Engine errors already name the item and the reason; anything
    else is a bug: its traceback goes to the log file and the user gets a short pointer to it."""
    if isinstance(exc, FootnoteError):
        return str(exc)
    log.error("unexpected error while %s: %s", what, type(exc).__name__, exc_info=exc)
    detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    return f"{what}: unexpected error ({detail}); details are in the log"


# -- plain records the widgets see ------------------------------------------------------------


@dataclass(frozen=True)
class DocumentView:
    id: str
    source: str
    title: str
    kind: str
    status: str  # importing | ready | failed
    chunks: int = 0
    error: str = ""
    done: int = 0  # chunks embedded so far, while importing
    total: int = 0


@dataclass(frozen=True)
class CitationView:
    """One cited passage: a frozen snapshot from the answer, so it outlives its document."""

    n: int
    chunk_id: str
    document_id: str
    source: str
    title: str
    section: str
    page: int | None
    text: str
    start: int = 0
    end: int = 0
    before: str = ""  # the document's text just before the passage, when the library still has it
    after: str = ""


@dataclass(frozen=True)
class AnswerResult:
    text: str
    citations: list[CitationView]
    backend: str = ""
    timings: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False


@dataclass(frozen=True)
class ImportSummary:
    imported: int
    unchanged: int
    failed: list[str]  # one full message per failed item
    cancelled: bool
    seconds: float

    def text(self) -> str:
        parts = [f"{self.imported} imported"]
        if self.unchanged:
            parts.append(f"{self.unchanged} unchanged")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        head = "Import cancelled: " if self.cancelled else "Import finished: "
        return head + ", ".join(parts)


@dataclass(frozen=True)
class KeyInfo:
    stored: bool
    backend: str
    usable_keyring: bool
    env_present: bool
    message: str


def citation_from(obj: Any, n: int | None = None) -> CitationView:
    """Accept the answerer's citation records (``core.conversations.Citation``) or a search hit."""
    g = (lambda k, d=None: obj.get(k, d)) if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
    return CitationView(
        n=int(g("n", n or 0) or (n or 0)),
        chunk_id=str(g("chunk_id", None) or g("point_id", "") or ""),
        document_id=str(g("document_id", "") or ""),
        source=str(g("source", "") or ""),
        title=str(g("title", "") or ""),
        section=str(g("section", "") or ""),
        page=g("page", None),
        text=str(g("text", "") or ""),
        start=int(g("start", 0) or 0),
        end=int(g("end", 0) or 0),
    )


# -- jobs -------------------------------------------------------------------------------------


class ImportJob(QObject):
    """One import (a drop, a URL). Aggregates engine events into per-item and per-job progress."""

    event = Signal(object)  # IngestEvent
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
        finished = sum(1 for ev in self.items.values() if ev.kind in ("done", "skipped", "failed"))
        return finished, len(self.items)

    def fraction(self) -> float:
        finished, seen = self.counts()
        if seen == 0:
            return 0.0
        partial = 0.0
        for ev in self.items.values():
            if ev.kind in ("embedded", "chunked") and ev.total:
                partial += (ev.done if ev.kind == "embedded" else 0) / ev.total
        return min(1.0, (finished + partial) / seen)

    def _on_event(self, ev: IngestEvent) -> None:
        self.items[ev.source] = ev
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
            unchanged=sum(1 for ev in self.items.values() if ev.kind == "skipped"),
            failed=failed,
            cancelled=self._cancelled,
            seconds=time.monotonic() - self.started_at,
        )
        self.summary = summary
        emit(self.finished, summary)


class AnswerJob(QObject):
    """One question. ``stop()`` ends it for the user at once; the worker notices between tokens."""

    retrieved = Signal(list)  # list[CitationView]: the candidate passages
    token = Signal(str)
    done = Signal(object)  # AnswerResult
    failed = Signal(str)
    finished = Signal()

    def __init__(self, question: str, conversation_id: str | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.question = question
        self.conversation_id = conversation_id
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
        self._end(AnswerResult(self.text, [], stopped=True))

    def _on_event(self, ev: Any) -> None:
        if self.is_finished:
            return  # stopped: late tokens from the worker are dropped
        kind = getattr(ev, "kind", None) or (ev.get("kind") if isinstance(ev, dict) else None)
        g = (lambda k, d=None: ev.get(k, d)) if isinstance(ev, dict) else (lambda k, d=None: getattr(ev, k, d))
        if kind == "retrieved":
            chunks = g("chunks", None) or g("hits", None) or []
            emit(self.retrieved, [citation_from(c, i) for i, c in enumerate(chunks, start=1)])
        elif kind == "token":
            piece = str(g("text", "") or "")
            self.text += piece
            self.token_times.append(time.monotonic())
            emit(self.token, piece)
        elif kind == "done":
            answer = g("answer", None)  # core.answering.Answer, or the text in other shapes
            src = answer if answer is not None and not isinstance(answer, str) else ev
            gs = (lambda k, d=None: getattr(src, k, d)) if src is not ev else g
            text = str(gs("answer", None) if src is not ev else (answer or g("text", None) or self.text))
            cites = [citation_from(c, i) for i, c in enumerate(gs("citations", None) or [], start=1)]
            self.text = text
            self._end(AnswerResult(text, cites, str(gs("backend", "") or ""), dict(gs("timings", None) or {}),
                                   stopped=bool(gs("stopped", False)) or self.stopped))
        elif kind == "error":
            self._fail(str(g("reason", None) or g("text", None) or g("message", "") or "the answer failed"))

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


# -- the facade -------------------------------------------------------------------------------


class Services(QObject):
    """What the window may do with the library. One per window and data folder."""

    engine_state = Signal(str, str)  # opening | loading | ready | locked | failed, and a message
    library_changed = Signal()
    import_started = Signal(object)  # ImportJob
    error_message = Signal(str)  # a failure nobody else handles, already phrased for the user

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir).expanduser()
        self.log_path = self.data_dir / LOG_FILE
        self._engine: Engine | None = None
        self._engine_ready = threading.Event()
        self._engine_error: BaseException | None = None
        self._conversations: Any = None
        self._conv_lock = threading.Lock()
        self.state = "closed"
        self.pool = WorkerPool(self, max_threads=3)
        self.import_pool = WorkerPool(self, max_threads=1)  # imports queue: one writer at a time
        self.jobs: list[ImportJob] = []
        self.answer: AnswerJob | None = None
        self._closing = False

    # -- engine lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Open the library and load the embedder in a worker; the window stays live meanwhile."""
        self._set_state("opening", "Opening the library…")
        self._engine_error = None
        self._engine_ready.clear()

        def work(cancel: threading.Event) -> Iterator[str]:
            from core.engine import Engine  # heavy imports happen here, off the GUI thread

            engine = Engine(self.data_dir)
            self._engine = engine
            yield "opened"
            if cancel.is_set():
                return
            engine.warm_up()
            yield "warm"
            # Loading llama.cpp (dlopen, the GGUF, and compiling its Jinja chat template in Python)
            # starves the GUI thread for a few hundred ms on two cores; do it now, while nothing is
            # happening, not in the middle of an import when the first question comes.
            if engine.settings.backend != "openai":
                try:
                    import core.answering  # noqa: F401
                    from core.generation import LocalLlama

                    LocalLlama(engine.settings).load()
                    _ = engine.answerer  # opens the answer cache and conversation store
                except Exception as exc:  # noqa: BLE001 - the answer path reports it properly later
                    log.info("local model preload skipped error=%s", exc)

        def on_yield(step: str) -> None:
            if step == "opened":
                self._engine_ready.set()
                self._set_state("loading", "Loading the search model…")
                emit(self.library_changed)
            elif step == "warm":
                self._set_state("ready", "Ready")

        def on_error(exc: BaseException) -> None:
            self._engine_error = exc
            self._engine_ready.set()
            if isinstance(exc, LibraryLockedError):
                self._set_state("locked", f"This library is already open in another Footnote process ({exc.data_dir}). "
                                "Close it there, then choose Retry.")
            else:
                self._set_state("failed", user_message(exc, "Opening the library"))

        self.pool.start(work, name="open-engine", on_yield=on_yield, on_error=on_error)

    def _report(self, text: str) -> None:
        emit(self.error_message, text)

    def _set_state(self, state: str, message: str) -> None:
        self.state = state
        log.info("engine state=%s", state)
        emit(self.engine_state, state, message)

    @property
    def is_open(self) -> bool:
        return self._engine is not None

    def _wait_engine(self, cancel: threading.Event) -> Engine:
        """Called in workers: a job queued while the library opens waits for it."""
        deadline = time.monotonic() + OPEN_TIMEOUT_S
        while not self._engine_ready.wait(0.05):
            if cancel.is_set():
                raise FootnoteError("cancelled before the library opened")
            if time.monotonic() > deadline:
                raise FootnoteError("the library took too long to open")
        if self._engine is None:
            err = self._engine_error
            raise FootnoteError(str(err) if isinstance(err, FootnoteError) else "the library could not be opened")
        return self._engine

    def conversation_store(self) -> Any:
        with self._conv_lock:
            if self._conversations is None:
                from core.conversations import ConversationStore

                self._conversations = ConversationStore(self.data_dir)
            return self._conversations

    def settings(self) -> Settings:
        """A copy the dialog may edit; the engine's own object changes only through ``save_settings``."""
        if self._engine is not None:
            return dataclasses.replace(self._engine.settings)
        return Settings.load(self.data_dir)

    def save_settings(self, new: Settings) -> None:
        """Write the settings file and apply the values in place, so running workers see them."""
        new.save(self.data_dir)
        if self._engine is not None:
            for f in dataclasses.fields(Settings):
                setattr(self._engine.settings, f.name, getattr(new, f.name))
        log.info("settings saved path=%s", self.data_dir)

    # -- generic calls ----------------------------------------------------------------------------

    def call(
        self,
        fn: Callable[[Engine], Any],
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        *,
        what: str = "Working",
    ) -> Worker:
        """Run ``fn(engine)`` in a worker; errors arrive as a finished user message."""
        def work(cancel: threading.Event) -> Any:
            return fn(self._wait_engine(cancel))

        return self.pool.start(
            work, name=what, on_result=on_result,
            on_error=lambda exc: (on_error or self._report)(user_message(exc, what)),
        )

    def run(
        self,
        fn: Callable[[], Any],
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        *,
        what: str = "Working",
    ) -> Worker:
        """Run an engine-independent call (conversations, keyring) in a worker."""
        return self.pool.start(
            lambda _cancel: fn(), name=what, on_result=on_result,
            on_error=lambda exc: (on_error or self._report)(user_message(exc, what)),
        )

    # -- library ----------------------------------------------------------------------------------

    def documents(self, on_result: Callable[[list[DocumentView]], None]) -> None:
        def fetch(engine: Engine) -> list[DocumentView]:
            return [DocumentView(d.id, d.source, d.title, d.kind, d.status, d.chunks, d.error)
                    for d in engine.documents()]

        self.call(fetch, on_result, what="Listing the library")

    def remove(self, source_or_id: str, on_done: Callable[[Any], None], on_error: Callable[[str], None]) -> None:
        def work(engine: Engine) -> str:
            doc = engine.remove(source_or_id)
            return doc.title or doc.source

        def done(title: Any) -> None:
            emit(self.library_changed)
            on_done(title)

        self.call(work, done, on_error, what="Removing a document")

    def chunk(self, point_id: str, on_result: Callable[[CitationView | None], None]) -> None:
        def work(engine: Engine) -> CitationView | None:
            hit = engine.chunk(point_id)
            if hit is None:
                return None
            before, after = engine.context(point_id)
            return dataclasses.replace(citation_from(hit, 0), before=before, after=after)

        self.call(work, on_result, what="Reading a passage")

    def import_sources(self, sources: list[str], crawl_depth: int = 0, max_pages: int = 20,
                       label: str | None = None) -> ImportJob:
        """Queue an import; jobs run one at a time, each cancellable on its own."""
        if label is None:
            label = Path(sources[0]).name or sources[0] if len(sources) == 1 else f"{len(sources)} items"
            if "://" in sources[0] and len(sources) == 1:
                label = sources[0]
        job = ImportJob(label, self)

        def work(cancel: threading.Event) -> Iterator[IngestEvent]:
            engine = self._wait_engine(cancel)
            yield from engine.ingest(list(sources), crawl_depth=crawl_depth, max_pages=max_pages, cancel=cancel)

        def on_error(exc: BaseException) -> None:
            job._finish(user_message(exc, f"Importing {label}"))

        def on_finished() -> None:
            job._finish()
            if job in self.jobs:
                self.jobs.remove(job)
            emit(self.library_changed)

        job.worker = self.import_pool.start(
            work, name="import", on_yield=job._on_event, on_error=on_error, on_finished=on_finished,
        )
        self.jobs.append(job)
        log.info("import queued sources=%d depth=%d max_pages=%d", len(sources), crawl_depth, max_pages)
        emit(self.import_started, job)
        return job

    def cancel_imports(self) -> None:
        for job in list(self.jobs):
            job.cancel()

    # -- answers ----------------------------------------------------------------------------------

    def ask(self, question: str, conversation_id: str | None = None) -> AnswerJob:
        """Stream an answer. Only one at a time: asking again stops the previous one."""
        if self.answer is not None and not self.answer.is_finished:
            self.answer.stop()
        job = AnswerJob(question, conversation_id, self)

        def work(cancel: threading.Event) -> Iterator[Any]:
            engine = self._wait_engine(cancel)
            yield from engine.ask(question, conversation_id=conversation_id, cancel=cancel)

        def on_error(exc: BaseException) -> None:
            job._fail(user_message(exc, "Answering"))

        def on_finished() -> None:
            if not job.is_finished:
                if job.text:
                    job._end(AnswerResult(job.text, [], stopped=job.stopped))
                else:
                    job._fail("Answering: the answer ended without text")

        job.worker = self.pool.start(work, name="answer", on_yield=job._on_event, on_error=on_error,
                                     on_finished=on_finished)
        self.answer = job
        return job

    # -- keyring and hardware -----------------------------------------------------------------------

    def key_info(self, on_result: Callable[[KeyInfo], None]) -> None:
        def work() -> KeyInfo:
            from core import secrets

            st = secrets.status()
            return KeyInfo(st.stored, st.backend, st.usable_keyring, st.env_present, st.message)

        self.run(work, on_result, what="Checking the keyring")

    def store_key(self, key: str, on_result: Callable[[str], None], on_error: Callable[[str], None]) -> None:
        def work() -> str:
            from core import secrets

            return secrets.set_key(key)

        self.run(work, on_result, on_error, what="Storing the OpenAI key")

    def delete_key(self, on_result: Callable[[bool], None], on_error: Callable[[str], None]) -> None:
        def work() -> bool:
            from core import secrets

            return secrets.delete_key()

        self.run(work, on_result, on_error, what="Removing the OpenAI key")

    def gpu_offload(self, on_result: Callable[[bool | None], None]) -> None:
        """Whether this llama.cpp build can offload to a GPU (None: llama-cpp is missing)."""
        def work() -> bool | None:
            try:
                import llama_cpp
            except ImportError:
                return None
            return bool(llama_cpp.llama_supports_gpu_offload())

        self.run(work, on_result, what="Checking the GPU")

    # -- shutdown -------------------------------------------------------------------------------------

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Stop every worker, wait up to ``timeout_s``, then close the engine. Never blocks longer."""
        if self._closing:
            return True
        self._closing = True
        started = time.monotonic()
        if self.answer is not None:
            self.answer.stop()
        self.cancel_imports()
        ok = self.import_pool.shutdown(timeout_s)
        ok = self.pool.shutdown(max(0.5, timeout_s - (time.monotonic() - started))) and ok
        if ok:
            if self._engine is not None:
                try:
                    self._engine.close()
                except Exception as exc:  # noqa: BLE001 - closing must not raise out of closeEvent
                    log.warning("engine close failed error=%s", type(exc).__name__)
                self._engine = None
            if self._conversations is not None:
                self._conversations.close()
        else:
            # A worker is stuck inside a C call; the OS releases the lock when the process exits.
            log.warning("shutdown timed out after %.1fs; leaving the engine to process exit", timeout_s)
        log.info("services shut down ok=%s seconds=%.2f", ok, time.monotonic() - started)
        return ok
