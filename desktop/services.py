"""The narrow facade that widgets get instead of the engine.

Widgets never import FastEmbed, Qdrant or llama-cpp, and never call the engine on the GUI thread.
They call ``Services``; every engine call runs in a worker (``desktop.workers``) and comes back as
a signal or a callback on the GUI thread. The engine itself is opened in a worker too, so the
window appears before any model or index is touched. The records widgets see live in
``desktop.views`` and the per-task jobs in ``desktop.jobs``; both are re-exported here, so a widget
imports from one place.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal

from core.answer.citations import parse_markers  # the one citation grammar, shared with the engine
from core.answer.types import ABSTAIN_TEXT
from core.documents import display_title  # widgets show titles through it, never a placeholder
from core.errors import FootnoteError, LibraryLockedError
from core.events import UNCHANGED, IngestEvent
from core.settings import Settings
from desktop.jobs import AnswerJob, ImportJob, ModelJob
from desktop.views import (
    AboutInfo,
    AnswerResult,
    CitationView,
    DocumentTextView,
    DocumentView,
    DownloadView,
    ImportSummary,
    KeyInfo,
    ModelStatus,
    ModelView,
    PageView,
    SentenceView,
    SourceView,
    citation_from,
    document_view,
    human_bytes,
    human_duration,
    result_from_answer,
    result_from_message,
)
from desktop.workers import Worker, WorkerPool, emit

if TYPE_CHECKING:
    from core.engine import Engine

log = logging.getLogger(__name__)

LOG_FILE = "footnote.log"
OPEN_TIMEOUT_S = 120.0
#: How long quitting waits for workers to stop before the process leaves without them.
QUIT_WAIT_S = 1.0

__all__ = [
    "ABSTAIN_TEXT", "AboutInfo", "AnswerJob", "AnswerResult", "CitationView", "DocumentView", "DownloadView",
    "UNCHANGED", "ImportJob", "ImportSummary", "IngestEvent", "KeyInfo", "ModelJob", "ModelStatus", "ModelView", "SentenceView",
    "DocumentTextView", "PageView", "SourceView",
    "Services", "Settings", "citation_from", "display_title", "human_bytes", "human_duration", "parse_markers", "result_from_answer",
    "result_from_message", "user_message",
]


def user_message(exc: BaseException, what: str) -> str:
    """A sentence for the status bar. Engine errors already name the item and the reason; anything
    else is a bug: its traceback goes to the log file and the user gets a short pointer to it."""
    if isinstance(exc, FootnoteError):
        return str(exc)
    log.error("unexpected error while %s: %s", what, type(exc).__name__, exc_info=exc)
    detail = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    return f"{what}: unexpected error ({detail}); details are in the log"


def _gpu_offload() -> bool | None:
    try:
        import llama_cpp
    except ImportError:
        return None
    return bool(llama_cpp.llama_supports_gpu_offload())


def _named(name: str, message: str) -> str:
    """Every model failure names the model, once."""
    return message if name and name in message else f"{name}: {message}"


# -- the facade -------------------------------------------------------------------------------


class Services(QObject):
    """What the window may do with the library. One per window and data folder."""

    engine_state = Signal(str, str)  # opening | loading | ready | locked | failed, and a message
    library_changed = Signal()
    import_started = Signal(object)  # ImportJob
    error_message = Signal(str)  # a failure nobody else handles, already phrased for the user
    model_changed = Signal()  # a model was installed, added, chosen or removed

    def __init__(self, data_dir: Path, parent: QObject | None = None, *,
                 engine_factory: Callable[[Path], Engine] | None = None) -> None:
        """``engine_factory`` builds the engine from the data folder (default ``core.engine.Engine``);
        a test may pass one that scripts the answers, as PrivateGPT's ``MockInjector`` does."""
        super().__init__(parent)
        self.data_dir = Path(data_dir).expanduser()
        self._engine_factory = engine_factory
        self.log_path = self.data_dir / LOG_FILE
        self._engine: Engine | None = None
        self._engine_ready = threading.Event()
        self._engine_error: BaseException | None = None
        self._conversations: Any = None
        self._conv_lock = threading.Lock()
        self.state = "closed"
        self.pool = WorkerPool(self, max_threads=3)
        self.import_pool = WorkerPool(self, max_threads=1)  # imports queue: one writer at a time
        self.model_pool = WorkerPool(self, max_threads=1)  # downloads take minutes: not in ``pool``
        self.remote_pool = WorkerPool(self, max_threads=2)  # the CLI's commands (desktop.remote_server)
        self.model_jobs: list[ModelJob] = []
        self.jobs: list[ImportJob] = []
        self.answer: AnswerJob | None = None
        self._closing = False
        self._closed = False  # the engine was closed (or released for exit)
        from desktop.api.inapp import InAppApi  # Qt-free and light: FastAPI loads only when switched on

        self.api = InAppApi(lambda: self._wait_engine(threading.Event()), lambda: emit(self.library_changed))

    # -- engine lifecycle -----------------------------------------------------------------------

    def open(self) -> None:
        """Open the library and load the embedder in a worker; the window stays live meanwhile."""
        self._set_state("opening", "Opening the library…")
        self._engine_error = None
        self._engine_ready.clear()

        def work(cancel: threading.Event) -> Iterator[str]:
            if self._engine_factory is not None:
                engine = self._engine_factory(self.data_dir)
            else:
                from core.engine import Engine  # heavy imports happen here, off the GUI thread

                engine = Engine(self.data_dir)
            self._engine = engine
            yield "opened"
            if cancel.is_set():
                return
            engine.warm_up()
            yield "warm"
            if engine.outdated():
                yield "outdated"
            due = getattr(engine, "store_move_due", None)
            if due is not None and due() is not None:
                yield "move_store"  # past 20,000 passages, or a move that was interrupted
            # Loading llama.cpp (dlopen, the GGUF, and compiling its Jinja chat template in Python)
            # starves the GUI thread for a few hundred ms on two cores; do it now, while nothing is
            # happening, not in the middle of an import when the first question comes.
            if engine.settings.backend != "openai" and self._engine_factory is None:
                try:
                    from core.answer.llama_local import LocalLlama

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
                self.apply_api()
            elif step == "outdated":
                self.reprocess()
            elif step == "move_store":
                self.move_store()

        def on_error(exc: BaseException) -> None:
            self._engine_error = exc
            self._engine_ready.set()
            from core.library_format import LibraryDamagedError

            if isinstance(exc, LibraryDamagedError):
                self._set_state("damaged", str(exc))
            elif isinstance(exc, LibraryLockedError):
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

    def export_conversation(self, conversation_id: str, path: str, fmt: str) -> None:
        """Write one conversation with its sources (Markdown or JSON) to ``path``; runs in a worker."""
        from core.export import export, write_atomically

        store = self.conversation_store()
        text = export(store.get(conversation_id), store.messages(conversation_id), fmt)
        write_atomically(Path(path), text)

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

    def choose_data_dir(self, path: Path) -> None:
        """The data folder for the next start, of the window and the CLI alike (a tiny file write)."""
        from core.settings import choose_data_dir

        choose_data_dir(path)

    def save_settings(self, new: Settings) -> None:
        """Write the settings file and apply the values in place, so running workers see them."""
        new.save(self.data_dir)
        if self._engine is not None:
            for f in dataclasses.fields(Settings):
                setattr(self._engine.settings, f.name, getattr(new, f.name))
        log.info("settings saved path=%s", self.data_dir)
        if self._engine is not None:
            self.apply_api(new)

    # -- the local API (desktop.api, the same server as `footnote serve`) ------------------------------

    def apply_api(self, settings: Settings | None = None, on_result: Callable[[str], None] | None = None) -> None:
        """Start or stop the in-app API to match the settings' switch, in a worker; a failure (a port
        in use, no keyring and no FOOTNOTE_API_TOKEN) comes back as one sentence."""
        s = settings or self._live_settings()
        enabled, port = bool(s.api_enabled), int(s.api_port)
        if not enabled and self.api.status == "off":
            return

        def shown(text: str) -> None:
            if on_result is not None:
                on_result(text)
            elif text.startswith("Local API not started"):
                self._report(text)

        self.run(lambda: self.api.apply(enabled, port), shown, what="Starting the local API")

    def api_token(self, on_result: Callable[[str], None], on_error: Callable[[str], None]) -> None:
        """The local API's token (generated on first use), for the settings dialog to show."""
        def work() -> str:
            from core import secrets

            return secrets.api_token()

        self.run(work, on_result, on_error, what="Reading the API token")

    def regenerate_api_token(self, on_result: Callable[[str], None], on_error: Callable[[str], None]) -> None:
        """A new token; the running server accepts only the new one from the next request on."""
        def work() -> str:
            from core import secrets

            return secrets.regenerate_api_token()

        self.run(work, on_result, on_error, what="Making a new API token")

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

    def documents(self, on_result: Callable[[list[DocumentView]], None],
                  on_error: Callable[[str], None] | None = None) -> None:
        def fetch(engine: Engine) -> list[DocumentView]:
            return [document_view(d) for d in engine.documents()]

        self.call(fetch, on_result, on_error, what="Listing the library")

    def related(self, document_id: str, on_result: Callable[[list[tuple[DocumentView, float]]], None]) -> None:
        """The documents most like one document (embeddings only), best first."""
        def work(engine: Engine) -> list[tuple[DocumentView, float]]:
            return [(document_view(d), score) for d, score in engine.related(document_id, k=5)]

        self.call(work, on_result, what="Finding related documents")

    def remove(self, source_or_id: str, on_done: Callable[[Any], None], on_error: Callable[[str], None]) -> None:
        def work(engine: Engine) -> str:
            doc = engine.remove(source_or_id)
            return doc.title or doc.source

        def done(title: Any) -> None:
            emit(self.library_changed)
            on_done(title)

        self.call(work, done, on_error, what="Removing a document")

    def remove_documents(self, keys: list[str], on_done: Callable[[list[str]], None],
                         on_error: Callable[[str], None]) -> None:
        """Remove several documents in one worker. Each one that cannot be removed is reported by
        name; the others are still removed. ``on_done`` gets the removed titles."""
        def work(engine: Engine) -> tuple[list[str], list[str]]:
            removed: list[str] = []
            failed: list[str] = []
            for key in keys:
                try:
                    doc = engine.remove(key)
                except FootnoteError as exc:
                    failed.append(str(exc))
                    continue
                removed.append(doc.title or doc.source)
            return removed, failed

        def done(outcome: Any) -> None:
            removed, failed = outcome
            emit(self.library_changed)
            if removed:
                on_done(removed)
            if failed:
                more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
                on_error(f"{failed[0]}{more}")

        self.call(work, done, on_error, what="Removing documents")

    def chunk(self, point_id: str, on_result: Callable[[CitationView | None], None]) -> None:
        def work(engine: Engine) -> CitationView | None:
            hit = engine.chunk(point_id)
            if hit is None:
                return None
            before, after = engine.context(point_id)
            return dataclasses.replace(citation_from(hit, 0), before=before, after=after)

        self.call(work, on_result, what="Reading a passage")

    def source_view(self, c: CitationView, on_result: Callable[[SourceView], None],
                    on_error: Callable[[str], None] | None = None, *, fit_width: int | None = None) -> Worker:
        """The cited page of a PDF (drawn by PDFium, passage marked) or a document's whole text."""
        from desktop.sources import build_source_view

        return self.call(lambda engine: build_source_view(engine, c, fit_width), on_result, on_error,
                         what=f"Showing {c.title or c.source}")

    def render_page(self, source: str, page: int, on_result: Callable[[PageView], None],
                    on_error: Callable[[str], None] | None = None, *, scale: float | None = None,
                    fit_width: int | None = None, char_range: tuple[int, int] | None = None,
                    passage: str = "") -> Worker:
        """Draw one PDF page in a worker (PDFium holds its lock there, never on the GUI thread)."""
        from desktop.sources import render

        return self.run(lambda: render(source, page, scale=scale, fit_width=fit_width, char_range=char_range,
                                       passage=passage), on_result, on_error, what=f"Drawing page {page}")

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

    def start_job(self, label: str, name: str, what: str,
                  steps: Callable[[Engine, threading.Event], Iterator[IngestEvent]],
                  then: Callable[[ImportJob], None] | None = None) -> ImportJob:
        """Run engine work that yields ingest events in the import queue, shown like an import:
        ``steps(engine, cancel)``; ``what`` names it in an error message; ``then(job)`` runs on the
        GUI thread once it has finished."""
        job = ImportJob(label, self)

        def work(cancel: threading.Event) -> Iterator[IngestEvent]:
            yield from steps(self._wait_engine(cancel), cancel)

        def on_finished() -> None:
            job._finish()
            if job in self.jobs:
                self.jobs.remove(job)
            emit(self.library_changed)
            if then is not None:
                then(job)

        job.worker = self.import_pool.start(
            work, name=name, on_yield=job._on_event,
            on_error=lambda exc: job._finish(user_message(exc, what)), on_finished=on_finished)
        self.jobs.append(job)
        log.info("%s queued", name)
        emit(self.import_started, job)
        return job

    def reprocess(self) -> ImportJob:
        """Re-read, in the background, the documents an older reader or chunker made; progress shows
        like an import's, and search keeps the old passages until each document's new ones are in."""
        return self.start_job("Updating the library to the new reader", "reprocess", "Updating the library",
                              lambda engine, cancel: engine.reprocess(cancel=cancel))

    def move_store(self) -> ImportJob:
        """Move the library's vectors to the store it needs (Qdrant Edge past 20,000 passages) in the
        background, with progress like an import's; search uses the old store until the move is done,
        and a move cut short (quit, crash) resumes at the next start."""
        return self.start_job("Moving the library to Qdrant Edge", "move_store", "Moving the library",
                              lambda engine, cancel: engine.move_store(cancel=cancel))

    def repair(self, on_result: Callable[[str], None], on_error: Callable[[str], None]) -> None:
        """Repair the library (``core.repair``) with the engine closed, then open it again."""
        self._set_state("repairing", "Repairing the library…")

        def work(_cancel: threading.Event) -> str:
            engine, self._engine = self._engine, None
            if engine is not None:
                engine.close()
            from core.repair import repair

            return repair(self.data_dir).summary()

        def done(summary: Any) -> None:
            on_result(str(summary))
            self.open()

        def failed(exc: BaseException) -> None:
            self._set_state("damaged", user_message(exc, "Repairing the library"))
            on_error(user_message(exc, "Repairing the library"))

        self.pool.start(work, name="repair", on_result=done, on_error=failed)

    def cancel_imports(self) -> None:
        for job in list(self.jobs):
            job.cancel()

    # -- answers ----------------------------------------------------------------------------------

    def ask(self, question: str, conversation_id: str | None = None,
            document_ids: list[str] | None = None) -> AnswerJob:
        """Stream an answer. Only one at a time: asking again stops the previous one. With
        ``document_ids`` retrieval and citations are limited to those documents."""
        if self.answer is not None and not self.answer.is_finished:
            self.answer.stop()
        scope = [d for d in (document_ids or []) if d]
        job = AnswerJob(question, conversation_id, self, document_ids=scope)

        def work(cancel: threading.Event) -> Iterator[Any]:
            engine = self._wait_engine(cancel)
            kwargs: dict[str, Any] = {"conversation_id": conversation_id, "cancel": cancel}
            if scope:
                kwargs["document_ids"] = scope
            yield from engine.ask(question, **kwargs)

        def on_error(exc: BaseException) -> None:
            job._fail(user_message(exc, "Answering"))

        def on_finished() -> None:
            if not job.is_finished:
                if job.text:
                    job._end(AnswerResult(job.text, [], stopped=job.stopped, scope=scope))
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
            # The dialog names the keyring as the user knows it; "none found" it explains itself.
            message = "" if secrets.NONE_FOUND in st.message else st.message
            return KeyInfo(st.stored, secrets.backend_label(st.backend), st.usable_keyring, st.env_present, message)

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
        self.run(_gpu_offload, on_result, what="Checking the GPU")

    # -- models -------------------------------------------------------------------------------------

    def _live_settings(self) -> Settings:
        """The engine's own settings object when it is open, so a model change reaches it at once."""
        return self._engine.settings if self._engine is not None else Settings.load(self.data_dir)

    def _in_use_path(self, settings: Settings) -> str:
        if settings.model_path:
            return str(Path(settings.model_path).expanduser())
        from core import modelstore

        try:
            return str(modelstore.default_llm_path())
        except FootnoteError:
            return ""

    def _model_views(self) -> list[ModelView]:
        from core import modelstore

        current = modelstore.current_model_id(self.data_dir, self._live_settings())
        return [ModelView(
            id=str(m.id), name=str(m.name), file=str(m.file), size_bytes=int(m.size_bytes or 0),
            ram_gb=float(m.ram_gb or 0), licence=str(m.licence or ""), context=int(m.context or 0),
            pick_when=str(m.pick_when or ""), source=str(m.source or ""), installed=bool(m.installed),
            in_use=m.id == current and bool(m.installed), default=bool(m.default), path=str(m.path or ""),
        ) for m in modelstore.list_llm_models(self.data_dir)]

    def models(self, on_result: Callable[[list[ModelView]], None],
               on_error: Callable[[str], None] | None = None) -> None:
        """The model manager's list: catalog, bundled and local models, which are installed, which answers."""
        self.run(self._model_views, on_result, on_error, what="Listing the models")

    def install_model(self, model_id: str, name: str = "", *, url: str | None = None) -> ModelJob:
        """Download a catalog model in its own worker; the job reports progress and the outcome."""
        job = ModelJob(model_id, name or model_id, self)

        def work(cancel: threading.Event) -> str:
            from core import modelstore

            return str(modelstore.install_model(self.data_dir, model_id, job._on_progress, cancel, url=url))

        def on_result(path: Any) -> None:
            job._finish("installed", str(path))
            emit(self.model_changed)

        def on_error(exc: BaseException) -> None:
            from core.modelstore import DownloadCancelled

            if isinstance(exc, DownloadCancelled):
                job._finish("cancelled")
            else:
                job._finish("failed", _named(job.name, user_message(exc, f"Installing {job.name}")))

        def on_finished() -> None:
            if not job.is_finished:  # cancelled between blocks: the worker reports ``aborted``
                job._finish("cancelled")
            if job in self.model_jobs:
                self.model_jobs.remove(job)

        job.worker = self.model_pool.start(work, name="install-model", on_result=on_result, on_error=on_error,
                                           on_finished=on_finished)
        self.model_jobs.append(job)
        log.info("model install started id=%s", model_id)
        return job

    def use_model(self, id_or_path: str, name: str, on_result: Callable[[ModelView | None], None],
                  on_error: Callable[[str], None]) -> None:
        """Make a model the one that answers (saved in the settings); the next answer loads it."""
        def work() -> ModelView | None:
            from core import modelstore

            info = modelstore.use_model(self.data_dir, self._live_settings(), id_or_path)
            return next((v for v in self._model_views() if v.id == str(info.id)), None)

        self._model_call(work, name, on_result, on_error, "Choosing")

    def add_model(self, path: str, on_result: Callable[[ModelView | None], None], on_error: Callable[[str], None],
                  *, use: bool = False) -> None:
        """Add a GGUF file the user has (checked by the store); ``use`` also makes it the answering model."""
        name = Path(path).name

        def work() -> ModelView | None:
            from core import modelstore

            info = modelstore.add_local_model(self.data_dir, Path(path))
            if use:
                modelstore.use_model(self.data_dir, self._live_settings(), str(info.id))
            return next((v for v in self._model_views() if v.id == str(info.id)), None)

        self._model_call(work, name, on_result, on_error, "Adding")

    def remove_model(self, model_id: str, name: str, on_result: Callable[[Any], None],
                     on_error: Callable[[str], None]) -> None:
        def work() -> None:
            from core import modelstore

            modelstore.remove_model(self.data_dir, model_id)
            # Removing the model in use makes the default answer again; the running engine follows.
            self._live_settings().model_path = Settings.load(self.data_dir).model_path

        self._model_call(work, name, on_result, on_error, "Removing")

    def _model_call(self, work: Callable[[], Any], name: str, on_result: Callable[[Any], None],
                    on_error: Callable[[str], None], verb: str) -> None:
        def done(value: Any) -> None:
            emit(self.model_changed)
            on_result(value)

        self.pool.start(lambda _cancel: work(), name=f"{verb.lower()}-model", on_result=done,
                        on_error=lambda exc: on_error(_named(name, user_message(exc, f"{verb} {name}"))))

    def model_status(self, on_result: Callable[[ModelStatus], None]) -> None:
        """Which model answers, its size, and whether llama.cpp runs it on the GPU."""
        def work() -> ModelStatus:
            settings = self._live_settings()
            if settings.backend == "openai":
                return ModelStatus(settings.openai_model, 0, False, backend="openai")
            path = self._in_use_path(settings)
            name = Path(path).name if path else "no local model"
            try:
                views = self._model_views()
            except Exception as exc:  # noqa: BLE001 - a broken catalog must not hide the label
                log.info("model list unavailable error=%s", type(exc).__name__)
                views = []
            match = next((v for v in views if v.in_use), None)
            if match is not None:
                name = match.name
            try:
                size = Path(path).stat().st_size if path else 0
            except OSError:
                size = 0
            gpu = _gpu_offload()
            on_gpu = None if gpu is None else gpu and (settings.n_gpu_layers or "auto").strip() != "0"
            return ModelStatus(name, size, on_gpu, path, settings.backend)

        self.run(work, on_result, what="Checking the model")

    def about(self, on_result: Callable[[AboutInfo], None]) -> None:
        """Version and the bundled models' licences, for the About dialog."""
        def work() -> AboutInfo:
            from importlib import metadata

            try:
                version = metadata.version("footnote")
            except metadata.PackageNotFoundError:
                version = "unknown (not installed as a package)"
            try:
                from core import modelstore

                licences = modelstore.licences_text()
            except (ImportError, AttributeError, OSError, FootnoteError) as exc:
                licences = f"The licences file could not be read ({type(exc).__name__})."
            return AboutInfo(version, licences, str(self.data_dir))

        self.run(work, on_result, what="Reading the version")

    # -- shutdown -------------------------------------------------------------------------------------

    def shutdown(self, timeout_s: float = QUIT_WAIT_S) -> bool:
        """Cancel every job at once, wait up to ``timeout_s`` in all for the workers, then close the
        engine. True when everything stopped and closed. A worker still inside an uninterruptible
        engine call is left running (see ``abandon``); calling again waits for it again."""
        started = time.monotonic()
        if not self._closing:
            self._closing = True
            self.api.stop(min(timeout_s, 2.0))
            if self.answer is not None:
                self.answer.stop()
            self.cancel_imports()
            for mjob in list(self.model_jobs):
                mjob.cancel()
        pools = (self.model_pool, self.import_pool, self.pool, self.remote_pool)
        for pool in pools:
            pool.close()  # every pool is cancelled before any is waited on
        deadline = started + timeout_s
        ok = all([pool.wait(deadline) for pool in pools])
        if ok and not self._closed:
            self._closed = True
            engine, self._engine = self._engine, None
            if engine is not None:
                try:
                    engine.close()  # the model stays loaded: unloading it only delays the exit
                except Exception as exc:  # noqa: BLE001 - closing must not raise out of closeEvent
                    log.warning("engine close failed error=%s", type(exc).__name__)
            if self._conversations is not None:
                self._conversations.close()
        elif not ok:
            log.info("shutdown: workers still inside the engine after %.1fs", timeout_s)
        log.info("services shut down ok=%s seconds=%.2f", ok, time.monotonic() - started)
        return ok

    def abandon(self, wait_s: float = 0.3) -> None:
        """The process is about to end with a worker still inside the engine: kill the parse
        workers, close the index if no store call is running, and release the library lock now,
        so a relaunch opens it at once (``Engine.close_for_exit``)."""
        engine = self._engine
        if engine is not None and not self._closed:
            self._closed = True
            try:
                engine.close_for_exit(wait_s)
            except Exception as exc:  # noqa: BLE001 - the exit goes on
                log.warning("engine close at exit failed error=%s", type(exc).__name__)
