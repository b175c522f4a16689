"""The Footnote window: library and conversations on the left, chat in the middle, sources right.

The window only draws and routes: every engine call goes through ``Services``, which runs it in a
worker and answers with a signal. Nothing here blocks, so the window keeps drawing while the
engine imports, embeds or generates.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDragLeaveEvent,
    QDragMoveEvent,
    QDropEvent,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.services import (
    AboutInfo,
    AnswerJob,
    AnswerResult,
    CitationView,
    DocumentView,
    ImportJob,
    ImportSummary,
    IngestEvent,
    ModelStatus,
    ModelView,
    Services,
    result_from_message,
)
from desktop.watcher import FolderWatcher
from desktop.workers import emit
from ui import messages
from ui.about_dialog import AboutDialog
from ui.answer_widget import AnswerWidget
from ui.chat_view import ChatView
from ui.conversation_list import ConversationList
from ui.drop_overlay import DropOverlay
from ui.icons import app_icon
from ui.import_panel import ImportBar, JobsPanel
from ui.library_panel import LibraryPanel
from ui.model_manager import ModelManager, UseDroppedModel
from ui.settings_dialog import SettingsDialog
from ui.source_viewer import SourceViewer, open_url, original_url

log = logging.getLogger(__name__)

EVENT_BATCH_MS = 100
SHUTDOWN_TIMEOUT_S = 1.0  # quitting waits this long for workers, in all
INFO_MS = 8000
WARNING_MS = 15000


def dropped_paths(urls: list[QUrl]) -> list[str]:
    return [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile()]


def is_model_file(path: str) -> bool:
    return path.lower().endswith(".gguf") and Path(path).is_file()


DOCUMENT_FILTER = "Documents (*.pdf *.docx *.md *.markdown *.txt *.html *.htm *.rst *.csv);;All files (*)"


class ChooseFiles:
    """The file picker behind "Add files…". Tests patch ``ask``."""

    @classmethod
    def ask(cls, parent: QWidget) -> list[str]:
        paths, _ = QFileDialog.getOpenFileNames(parent, "Add documents", str(Path.home()), DOCUMENT_FILTER)
        return list(paths)


class ChooseFolder:
    """The folder picker behind "Add folder…". Tests patch ``ask``."""

    @classmethod
    def ask(cls, parent: QWidget) -> str | None:
        return QFileDialog.getExistingDirectory(parent, "Add a folder", str(Path.home())) or None


class MainWindow(QMainWindow):
    activated = Signal()  # brought forward by a second instance
    answer_started = Signal(object)  # AnswerJob, for tests and the benchmark

    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.conversation_id: str | None = None
        self._renamed_titles: dict[str, str] = {}  # renames this session, by conversation id
        self.answer_job: AnswerJob | None = None
        self._closing = False
        self._docs_pending = False
        self._docs_stale = False  # the library changed while a listing was on its way
        self.model_manager: ModelManager | None = None
        self.about_dialog: AboutDialog | None = None
        self.model_status: ModelStatus | None = None
        self.setObjectName("mainWindow")
        self.setWindowTitle("Footnote")
        self.setWindowIcon(app_icon())
        self.setAcceptDrops(True)
        self.setMinimumSize(760, 480)

        # -- widgets ------------------------------------------------------------------------------
        self.import_bar = ImportBar()
        self.jobs = JobsPanel()
        self.library = LibraryPanel()
        self.conversations = ConversationList()
        self.chat = ChatView()
        self.viewer = SourceViewer(services=services)
        self.viewer.hide()
        for w in (self.import_bar.url, self.chat.input, self.library.filter):
            w.setAcceptDrops(False)  # file drags go to the window, not into a text field

        self.banner = QFrame()
        self.banner.setObjectName("banner")
        self.banner_text = QLabel()
        self.banner_text.setWordWrap(True)
        self.retry = QPushButton("Retry")
        self.retry.clicked.connect(self._retry_open)
        bl = QHBoxLayout(self.banner)
        bl.setContentsMargins(12, 6, 12, 6)
        self.repair_button = QPushButton("Repair")
        self.repair_button.setToolTip("Rebuild the damaged part of the library from what survives")
        self.repair_button.clicked.connect(self.repair_library)
        self.repair_button.hide()
        bl.addWidget(self.banner_text, 1)
        bl.addWidget(self.repair_button)
        bl.addWidget(self.retry)
        self.banner.hide()

        left = QSplitter(Qt.Orientation.Vertical)
        left.setObjectName("leftSplitter")
        left.addWidget(self.conversations)
        left.addWidget(self.library)
        left.setStretchFactor(0, 1)
        left.setStretchFactor(1, 2)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(left)
        self.splitter.addWidget(self.chat)
        self.splitter.addWidget(self.viewer)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setSizes([300, 620, 340])
        self.splitter.setChildrenCollapsible(False)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.import_bar)
        layout.addWidget(self.jobs)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)
        self.overlay = DropOverlay(central)

        # -- status bar -----------------------------------------------------------------------------
        self.status_text = QLabel()
        self.status_text.setObjectName("statusText")
        self.status_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy = QProgressBar()
        self.busy.setObjectName("busy")
        self.busy.setRange(0, 0)
        self.busy.setFixedWidth(90)
        self.busy.setFixedHeight(10)
        self.busy.setTextVisible(False)
        self.busy_text = QLabel()
        self.busy_text.setObjectName("muted")
        self.overall = QProgressBar()
        self.overall.setObjectName("overallProgress")
        self.overall.setRange(0, 1000)
        self.overall.setFixedWidth(160)
        self.overall.setFormat("Importing %p%")
        self.overall.hide()
        self.open_log_button = QPushButton("Open log")
        self.open_log_button.setFlat(True)
        self.open_log_button.clicked.connect(self.open_log)
        self.open_log_button.hide()
        self.model_label = QPushButton("Model: checking…")
        self.model_label.setObjectName("modelLabel")
        self.model_label.setFlat(True)
        self.model_label.setToolTip("The model that answers. Click to manage models")
        self.model_label.clicked.connect(self.open_models)
        sb = self.statusBar()
        sb.addWidget(self.status_text, 1)
        sb.addPermanentWidget(self.model_label)
        sb.addPermanentWidget(self.open_log_button)
        sb.addPermanentWidget(self.overall)
        sb.addPermanentWidget(self.busy_text)
        sb.addPermanentWidget(self.busy)
        self._clear_timer = QTimer(self)
        self._clear_timer.setSingleShot(True)
        self._clear_timer.timeout.connect(self._clear_status)
        self._overall_timer = QTimer(self)
        self._overall_timer.setInterval(150)
        self._overall_timer.timeout.connect(self._update_overall)
        # Import events reach the list in batches: 1,000 files make thousands of events, and one
        # model update per event kept the GUI thread busy (see tests/bench/ui_bench.py).
        self._events: dict[str, IngestEvent] = {}
        self._events_timer = QTimer(self)
        self._events_timer.setSingleShot(True)
        self._events_timer.setInterval(EVENT_BATCH_MS)
        self._events_timer.timeout.connect(self._flush_events)

        self.watcher = FolderWatcher(services, self)  # watched folders; starts once the library is open
        self._build_actions()
        self._connect()
        self._restore_state()
        self.chat.input.setFocus(Qt.FocusReason.OtherFocusReason)  # a new window waits for a question

    # -- set-up -----------------------------------------------------------------------------------

    def _build_actions(self) -> None:
        mb = self.menuBar()
        file_menu = mb.addMenu("&File")
        self.add_files_action = file_menu.addAction("Add files…", self.add_files)
        self.add_files_action.setShortcut(QKeySequence.StandardKey.Open)
        self.add_folder_action = file_menu.addAction("Add &folder…", self.add_folder)
        self.watch_action = file_menu.addAction("Watch folder…", self.watch_folder)
        self.watch_action.setToolTip("Import a folder and keep the library in step with it while Footnote runs")
        self.url_action = file_menu.addAction("Import a link", self.focus_url)
        self.url_action.setShortcut(QKeySequence("Ctrl+L"))
        file_menu.addSeparator()
        self.settings_action = file_menu.addAction("Settings…", self.open_settings)
        self.settings_action.setShortcut(QKeySequence("Ctrl+,"))
        self.settings_action.setMenuRole(QAction.MenuRole.PreferencesRole)
        self.models_action = file_menu.addAction("Models…", self.open_models)
        self.models_action.setShortcut(QKeySequence("Ctrl+Shift+M"))
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit", self.close)
        # Some platforms (offscreen, bare X11 window managers) bind nothing to StandardKey.Quit.
        quit_action.setShortcuts(QKeySequence.keyBindings(QKeySequence.StandardKey.Quit) or [QKeySequence("Ctrl+Q")])
        self.quit_action = quit_action
        conv = mb.addMenu("&Conversation")
        self.new_action = conv.addAction("New conversation", self.new_conversation)
        self.new_action.setShortcut(QKeySequence("Ctrl+N"))
        self.ask_action = conv.addAction("&Ask", self.ask_typed)
        self.ask_action.setShortcut(QKeySequence("Ctrl+Return"))
        self.rename_action = conv.addAction("&Rename…", self.conversations.rename_current)
        self.export_action = conv.addAction("E&xport…", self.conversations.export_current)
        self.delete_action = conv.addAction("&Delete", self.conversations.delete_current)
        self.stop_action = conv.addAction("&Stop answer", self.stop_answer)
        self.copy_action = conv.addAction("Copy answer", self.copy_answer)
        self.copy_action.setShortcut(QKeySequence("Ctrl+Shift+C"))
        conv.addSeparator()
        self.scope_action = conv.addAction("Ask about the selected documents", self.scope_to_selection)
        self.scope_action.setShortcut(QKeySequence("Ctrl+Shift+A"))
        self.scope_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.unscope_action = conv.addAction("Ask about the &whole library", self.chat.clear_scope)
        # The library's own actions (they act on its selection), so each has a keyboard path.
        lib = self.library
        lib_menu = mb.addMenu("&Library")
        lib.open_action.setShortcut(QKeySequence("Ctrl+Shift+O"))
        lib_menu.addAction(lib.open_action)
        lib.reimport_action.setShortcut(QKeySequence("Ctrl+Shift+R"))
        lib_menu.addAction(lib.reimport_action)
        lib_menu.addAction(lib.remove_action)  # Del, while the library has focus
        help_menu = mb.addMenu("&Help")
        self.open_log_action = help_menu.addAction("Open &log", self.open_log)
        self.about_action = help_menu.addAction("&About Footnote", self.show_about)
        esc = QShortcut(QKeySequence(Qt.Key.Key_Escape), self)
        esc.setContext(Qt.ShortcutContext.WindowShortcut)
        esc.activated.connect(self.stop_answer)
        self.esc_shortcut = esc

    def _connect(self) -> None:
        s = self.services
        s.engine_state.connect(self._engine_state)
        s.library_changed.connect(self.refresh_library)
        s.import_started.connect(self._job_started)
        s.error_message.connect(messages.error)
        s.model_changed.connect(self.refresh_model_status)
        self.watcher.status.connect(messages.info)
        self.watcher.synced.connect(lambda *_: self.refresh_watched())
        messages.bus().posted.connect(self.show_message)
        self.import_bar.import_url.connect(self.import_url)
        self.import_bar.add_files.connect(self.add_files)
        self.chat.send.connect(self.ask)
        self.chat.stop.connect(self.stop_answer)
        self.chat.citation_clicked.connect(self.show_citation)
        self.chat.url_pasted.connect(self._url_pasted)
        self.chat.add_files.connect(self.add_files)
        self.chat.answer_copied.connect(lambda _text: messages.info("Answer copied with its sources"))
        self.library.remove_requested.connect(self.remove_documents)
        self.library.reimport_requested.connect(lambda d: self.import_paths([d.source]))
        self.library.open_requested.connect(self.open_document)
        self.library.ask_requested.connect(self._scope_to)
        self.library.related.wanted.connect(self._find_related)
        self.library.model.modelReset.connect(self._prune_scope)
        self.conversations.selected.connect(self.load_conversation)
        self.conversations.new_requested.connect(self.new_conversation)
        self.conversations.rename_requested.connect(self._rename_conversation)
        self.conversations.delete_requested.connect(self._delete_conversation)
        self.conversations.export_requested.connect(self._export_conversation)
        self.jobs.changed.connect(self._jobs_changed)
        self.library.model.modelReset.connect(self._library_count)
        self.library.model.rowsInserted.connect(lambda *_: None if self.library.batching else self._library_count())

    def _restore_state(self) -> None:
        qs = QSettings()
        geometry = qs.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self.resize(1200, 760)
        split = qs.value("window/splitter")
        if isinstance(split, QByteArray) and not split.isEmpty():
            self.splitter.restoreState(split)
        self.import_bar.crawl.setChecked(str(qs.value("import/crawl", "false")).lower() == "true")
        self.import_bar.depth_box.setValue(int(str(qs.value("import/depth", 1))))
        self.import_bar.max_pages.setValue(int(str(qs.value("import/max_pages", 20))))

    def _save_state(self) -> None:
        qs = QSettings()
        qs.setValue("window/geometry", self.saveGeometry())
        qs.setValue("window/splitter", self.splitter.saveState())
        qs.setValue("import/crawl", self.import_bar.crawl.isChecked())
        qs.setValue("import/depth", self.import_bar.depth_box.value())
        qs.setValue("import/max_pages", self.import_bar.max_pages.value())
        qs.sync()

    def start(self) -> None:
        """Open the engine in the background and fill the window as results arrive."""
        self.services.open()
        self.refresh_conversations()

    # -- messages -----------------------------------------------------------------------------------

    def show_message(self, msg: messages.Message) -> None:
        self.status_text.setText(msg.text)
        self.status_text.setToolTip(msg.text)
        self.status_text.setProperty("level", msg.level.value)
        self.status_text.style().unpolish(self.status_text)
        self.status_text.style().polish(self.status_text)
        self.open_log_button.setVisible(msg.show_log)
        if msg.level is messages.Level.ERROR:
            self._clear_timer.stop()  # errors stay until the next message
        else:
            self._clear_timer.start(INFO_MS if msg.level is messages.Level.INFO else WARNING_MS)

    def _clear_status(self) -> None:
        self.status_text.clear()
        self.open_log_button.hide()

    def set_busy(self, text: str | None) -> None:
        self.busy.setVisible(bool(text))
        self.busy_text.setVisible(bool(text))
        self.busy_text.setText(text or "")

    def open_log(self) -> None:
        path = self.services.log_path
        if not path.exists():
            messages.info(f"The log is empty so far ({path})")
            return
        if not open_url(QUrl.fromLocalFile(str(path))):
            messages.warning(f"{path}: no application could open the log")

    def show_about(self) -> None:
        def show(info: AboutInfo) -> None:
            if self.about_dialog is not None:
                self.about_dialog.close()
            self.about_dialog = AboutDialog(info, self)
            self.about_dialog.show()

        self.services.about(show)

    # -- models -------------------------------------------------------------------------------------

    def open_models(self) -> ModelManager:
        """One model manager per window; opening it again brings it forward."""
        if self.model_manager is None:
            self.model_manager = ModelManager(self.services, self)
        else:
            self.model_manager.refresh()
        self.model_manager.show()
        self.model_manager.raise_()
        self.model_manager.activateWindow()
        return self.model_manager

    def refresh_model_status(self) -> None:
        self.services.model_status(self._show_model_status)

    def _show_model_status(self, status: ModelStatus) -> None:
        self.model_status = status
        self.model_label.setText(status.text())
        where = ("llama.cpp offloads it to the GPU" if status.gpu else
                 "this llama.cpp build runs on the CPU" if status.gpu is False else
                 "llama-cpp-python is not installed")
        self.model_label.setToolTip(f"{status.path or status.name}\n{where}\nClick to manage models")

    def use_dropped_model(self, path: str) -> None:
        name = Path(path).name

        def done(view: ModelView | None) -> None:
            messages.info(f"{view.name if view is not None else name} now answers your questions")

        self.services.add_model(path, done, messages.error, use=True)

    # -- engine state -------------------------------------------------------------------------------

    def _engine_state(self, state: str, text: str) -> None:
        self.repair_button.setVisible(state == "damaged")
        if state in ("opening", "repairing", "locked", "failed", "damaged") and not self.library.model.documents():
            # The list is not known: never "No documents yet" for a library that is not open.
            unknown = "Opening the library…" if state in ("opening", "repairing") else "The library is not open."
            self.library.set_loading(True, unknown)
            self.chat.set_library_loading(unknown)
        if state in ("opening", "loading", "repairing"):
            self.set_busy(text)
            self.banner.hide()
        elif state == "ready":
            self.set_busy(None)
            self.banner.hide()
            messages.info("Ready")
            self.refresh_model_status()
            self.watcher.start()
            self.refresh_watched()
        else:
            self.set_busy(None)
            self.banner_text.setText(text)
            self.banner.show()
            messages.error(text)

    def repair_library(self) -> None:
        self.banner.hide()
        self.services.repair(messages.info, messages.error)

    def _retry_open(self) -> None:
        self.banner.hide()
        self.services.open()

    # -- library --------------------------------------------------------------------------------------

    def refresh_library(self) -> None:
        """List the library again. A change that arrives while a listing is on its way is never
        lost: that listing may predate the change, so one more follows it."""
        if not self.services.is_open:
            return
        if self._docs_pending:
            self._docs_stale = True
            return
        self._docs_pending = True
        self._docs_stale = False

        def settle() -> None:
            self._docs_pending = False
            if self._docs_stale:
                self.refresh_library()

        def got(docs: list[DocumentView]) -> None:
            live = {src for job in self.services.jobs for src, ev in job.items.items()
                    if ev.kind in ("started", "chunked", "embedded")}
            self.library.set_loading(False)  # from now on an empty list means an empty library
            self._flush_events()
            self.library.model.set_documents(docs, live)
            self._library_count()
            settle()

        def failed(message: str) -> None:
            messages.error(message)
            settle()

        self.services.documents(got, failed)

    def _library_count(self, *_: Any) -> None:
        self.chat.set_library_empty(not self.library.model.documents())

    def import_paths(self, paths: list[str], depth: int = 0, max_pages: int = 20) -> ImportJob | None:
        if not paths:
            return None
        return self.services.import_sources(paths, crawl_depth=depth, max_pages=max_pages)

    def import_url(self, url: str, depth: int = 0, max_pages: int = 1) -> ImportJob | None:
        messages.info(f"Importing {url}" + (f" and same-site pages up to {depth} links away" if depth else ""))
        return self.import_paths([url], depth, max_pages)

    def _url_pasted(self, url: str) -> None:
        depth, max_pages = self.import_bar.options()
        self.import_url(url, depth, max_pages)

    def _job_started(self, job: ImportJob) -> None:
        job.event.connect(self._ingest_event)
        job.finished.connect(self._job_finished)
        self.jobs.add(job)

    def _ingest_event(self, ev: IngestEvent) -> None:
        # Only an item's latest event matters to its row; it keeps its place in arrival order.
        self._events.pop(ev.source, None)
        self._events[ev.source] = ev
        if not self._events_timer.isActive():
            self._events_timer.start()
        if ev.kind == "failed":
            messages.warning(ev.error)

    def _flush_events(self) -> None:
        """Apply the queued import events to the list in one go (and before the list is replaced)."""
        self._events_timer.stop()
        if not self._events:
            return
        events, self._events = list(self._events.values()), {}
        with self.library.batch():
            for ev in events:
                self.library.model.apply_event(ev)
        self._library_count()

    def _job_finished(self, summary: ImportSummary) -> None:
        self._flush_events()
        text = summary.text()
        if summary.failed:
            first = summary.failed[0]
            more = f" (and {len(summary.failed) - 1} more; see the library)" if len(summary.failed) > 1 else ""
            messages.warning(f"{text} — {first}{more}")
        else:
            messages.info(text)

    def _jobs_changed(self) -> None:
        running = bool(self.jobs.rows)
        self.overall.setVisible(running)
        if running:
            self._overall_timer.start()
        else:
            self._overall_timer.stop()
        self._update_overall()

    def _update_overall(self) -> None:
        self.overall.setValue(int(1000 * self.jobs.overall()))

    def add_files(self) -> None:
        self.import_paths(ChooseFiles.ask(self))

    def add_folder(self) -> None:
        path = ChooseFolder.ask(self)
        if path:
            self.import_paths([path])

    def watch_folder(self) -> None:
        """Watch a folder: its files are imported now and its changes follow while Footnote runs."""
        path = ChooseFolder.ask(self)
        if path:
            self.watcher.add(path, messages.error)

    def refresh_watched(self) -> None:
        self.watcher.folders(self.library.set_watched)

    def focus_url(self) -> None:
        self.import_bar.url.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.import_bar.url.selectAll()

    def remove_document(self, doc: DocumentView) -> None:
        self.remove_documents([doc])

    def remove_documents(self, docs: list[DocumentView]) -> None:
        """One removal for the whole selection, and one message for it."""
        def done(titles: list[str]) -> None:
            messages.info(f"Removed {titles[0]}" if len(titles) == 1 else f"Removed {len(titles)} documents")

        if docs:
            self.services.remove_documents([d.id or d.source for d in docs], done, messages.error)

    def open_document(self, doc: DocumentView) -> None:
        if not open_url(original_url(doc.source)):
            messages.error(f"{doc.source}: no application could open it")

    # -- drag and drop ------------------------------------------------------------------------------

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        paths = dropped_paths(event.mimeData().urls()) if event.mimeData().hasUrls() else []
        if paths:
            event.acceptProposedAction()
            self.overlay.show_for(len(paths), sum(1 for p in paths if Path(p).is_dir()),
                                  models=all(is_model_file(p) for p in paths))
        else:
            event.ignore()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dragLeaveEvent(self, event: QDragLeaveEvent) -> None:  # noqa: N802 - Qt API
        self.overlay.hide()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        self.overlay.hide()
        paths = dropped_paths(event.mimeData().urls())
        if not paths:
            return
        event.acceptProposedAction()
        # A GGUF file is a model, never a document: offer to answer with it instead.
        models = [p for p in paths if is_model_file(p)]
        self.import_paths([p for p in paths if p not in models])
        if models:
            QTimer.singleShot(0, lambda: self._offer_models(models))  # not inside the drop's event

    def _offer_models(self, paths: list[str]) -> None:
        for path in paths[:1]:
            if UseDroppedModel.ask(self, Path(path).name):
                self.use_dropped_model(path)
        if len(paths) > 1:
            messages.warning(f"{len(paths) - 1} more GGUF files were not used: drop one model at a time")

    # -- conversations ------------------------------------------------------------------------------

    def refresh_conversations(self) -> None:
        def fetch() -> list[tuple[str, str]]:
            return [(c.id, c.title) for c in self.services.conversation_store().list()]

        self.services.run(fetch, lambda items: self.conversations.set_conversations(items, self.conversation_id),
                          messages.error, what="Listing conversations")

    def new_conversation(self) -> None:
        self.stop_answer()
        self.conversation_id = None
        self.conversations.list.clearSelection()
        self.conversations.list.setCurrentItem(None)  # type: ignore[call-overload]
        self.chat.clear()
        self.viewer.clear()  # the passage of an answer no longer on screen
        self.chat.input.setFocus()

    def load_conversation(self, cid: str) -> None:
        if cid == self.conversation_id:
            return
        self.stop_answer()
        self.conversation_id = cid

        def fetch() -> tuple[str, list[Any]]:
            store = self.services.conversation_store()
            return store.get(cid).title, store.messages(cid)

        def show(result: tuple[str, list[Any]]) -> None:
            if self.conversation_id != cid:
                return
            title, msgs = result
            # A rename made while this was being read wins over the title read before it.
            self.chat.clear(self._renamed_titles.get(cid) or title or "Untitled")
            for m in msgs:
                self.chat.add_history(m.role, m.content,
                                      self._named_model(result_from_message(m)) if m.role != "user" else None)

        self.services.run(fetch, show, messages.error, what="Opening the conversation")

    def _rename_conversation(self, cid: str, title: str) -> None:
        self._renamed_titles[cid] = title

        def done(_: Any) -> None:
            if cid == self.conversation_id:
                self.chat.title.setText(title)
            self.refresh_conversations()

        self.services.run(lambda: self.services.conversation_store().rename(cid, title), done, messages.error,
                          what="Renaming the conversation")

    def _find_related(self, doc: DocumentView) -> None:
        def show(found: list[tuple[DocumentView, float]]) -> None:
            self.library.related.show_related(doc.id, found)

        self.services.related(doc.id, show)

    def _export_conversation(self, cid: str, path: str, fmt: str) -> None:
        self.services.run(lambda: self.services.export_conversation(cid, path, fmt),
                          lambda _: messages.info(f"Conversation exported to {path}"), messages.error,
                          what="Exporting the conversation")

    def _delete_conversation(self, cid: str) -> None:
        def done(_: Any) -> None:
            if cid == self.conversation_id:
                self.conversation_id = None
                self.chat.clear()
            self.refresh_conversations()
            messages.info("Conversation deleted")

        self.services.run(lambda: self.services.conversation_store().delete(cid), done, messages.error,
                          what="Deleting the conversation")

    # -- answers --------------------------------------------------------------------------------------

    def ask(self, question: str) -> None:
        if self.answer_job is not None and not self.answer_job.is_finished:
            return
        self.chat.add_user(question)
        self.chat.title.setText(self.chat.title.text() if self.conversation_id else question[:60])
        widget = self.chat.add_answer()
        self.chat.set_generating(True)
        if self.conversation_id is None:
            def created(cid: str) -> None:
                self.conversation_id = cid
                self._start_answer(question, widget)

            self.services.run(lambda: self.services.conversation_store().create().id, created,
                              lambda err: self._answer_failed(widget, err), what="Starting a conversation")
        else:
            self._start_answer(question, widget)

    def _start_answer(self, question: str, widget: AnswerWidget) -> None:
        if widget.finished:  # stopped while the conversation was being created
            self.chat.set_generating(False)
            return
        job = self.services.ask(question, self.conversation_id, self.chat.scope_ids())
        self.answer_job = job
        widget.set_scope(self.chat.scope_titles())
        job.retrieved.connect(widget.set_retrieved)
        job.status.connect(widget.set_status)
        job.token.connect(widget.append)
        job.done.connect(lambda result, w=widget: self._answer_done(w, result))
        job.failed.connect(lambda reason, w=widget: self._answer_failed(w, reason))
        self.set_busy("Answering…")
        emit(self.answer_started, job)

    def _named_model(self, result: AnswerResult) -> AnswerResult:
        """The engine names a local model by its file; the window uses the name the status bar shows."""
        st = self.model_status
        if st is not None and st.path and result.model == Path(st.path).name.removesuffix(".gguf"):
            return dataclasses.replace(result, model=st.name)
        return result

    def _answer_done(self, widget: AnswerWidget, result: AnswerResult) -> None:
        widget.finish(self._named_model(result))
        self.chat.set_generating(False)
        self.set_busy(None)
        if result.stopped:
            messages.info("Answer stopped")
        self.refresh_conversations()

    def _answer_failed(self, widget: AnswerWidget, reason: str) -> None:
        widget.fail(reason)
        self.chat.set_generating(False)
        self.set_busy(None)
        messages.error(reason)

    def ask_typed(self) -> None:
        """Conversation > Ask: send the typed question as Enter in the box does; with nothing typed,
        go to the box."""
        if self.chat.input.toPlainText().strip():
            self.chat.send_button.click()
        else:
            self.chat.input.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def copy_answer(self) -> None:
        if not self.chat.copy_last_answer():
            messages.info("No answer to copy yet")

    def stop_answer(self) -> None:
        job = self.answer_job
        if job is not None and not job.is_finished:
            job.stop()  # emits done(stopped) at once; the worker ends within one token
        elif self.chat.current is not None and not self.chat.current.finished:
            self.chat.current.finish(AnswerResult("", [], stopped=True))
            self.chat.set_generating(False)
            self.set_busy(None)

    # -- scope ----------------------------------------------------------------------------------------

    def scope_to_selection(self) -> None:
        docs = self.library.selected()
        if not docs:
            messages.info("Select documents in the library first, then ask about them (Ctrl+Shift+A)")
            return
        self._scope_to(docs)

    def _scope_to(self, docs: list[DocumentView]) -> None:
        ready = [d for d in docs if d.status == "ready" and d.id]
        if not ready:
            messages.warning("Those documents are not ready yet: ask about them once they are imported")
            return
        self.chat.set_scope([(d.id, d.title or Path(d.source).name) for d in ready])
        self.chat.input.setFocus()

    def _prune_scope(self) -> None:
        """A removed document leaves the scope; the scope never names what the library lacks."""
        if not self.chat.scope:
            return
        ids = {d.id for d in self.library.model.documents() if d.status == "ready"}
        kept = [(i, t) for i, t in self.chat.scope if i in ids]
        if kept != self.chat.scope:
            self.chat.set_scope(kept)
            if not kept:
                messages.info("The documents you asked about were removed: asking about the whole library")

    def show_citation(self, c: CitationView) -> None:
        was_hidden = not self.viewer.isVisible()
        self.viewer.show_citation(c)
        sizes = self.splitter.sizes()
        if was_hidden or sizes[2] < 200:
            # A pane that was hidden comes back with no width; give it a third of the chat's room.
            give = max(300, min(420, sizes[1] // 3))
            self.splitter.setSizes([sizes[0], max(300, sizes[1] - give), give])
        if c.chunk_id and self.services.is_open:
            self.services.chunk(c.chunk_id, self.viewer.update_passage)

    # -- settings -------------------------------------------------------------------------------------

    def open_settings(self) -> None:
        new = SettingsDialog.ask(self, self.services)
        if new is None:
            return
        try:
            self.services.save_settings(new)
        except OSError as exc:
            messages.error(f"{self.services.data_dir}: settings not saved ({exc.strerror})")
            return
        messages.info("Settings saved")
        self.refresh_model_status()

    # -- lifecycle ------------------------------------------------------------------------------------

    def bring_forward(self) -> None:
        if self.isMinimized():
            self.showNormal()
        self.show()
        self.raise_()
        self.activateWindow()
        emit(self.activated)
        messages.info("Footnote is already open on this library")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        if self._closing:
            event.accept()
            return
        self._closing = True
        self._save_state()
        self.hide()  # gone at once; the wait below is bounded and the process does not wait longer
        self.watcher.stop()
        ok = self.services.shutdown(SHUTDOWN_TIMEOUT_S)
        if not ok:
            log.info("closing with workers still inside the engine; the exit leaves them behind")
        event.accept()

    def save_state(self) -> None:
        """Window state to QSettings (the session manager asks for it before logging out)."""
        self._save_state()
