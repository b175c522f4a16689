"""The model manager: which models there are, which one answers, and getting a better one.

Every store call (listing, downloading, choosing, removing, adding a file) runs in a worker
through ``Services``; the window only draws rows and progress. A download keeps running when the
window is closed, and the window picks it up again when it is reopened. Failures name the model
and the reason, through ``ui.messages`` and on the window's own line.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.services import DownloadView, ModelJob, ModelView, Services, human_bytes
from ui import messages

log = logging.getLogger(__name__)

COLUMNS = ("Model", "Size", "RAM needed", "Licence", "When to pick it", "Status")


class ChooseGguf:
    """The file picker for "Add GGUF file…". Tests patch ``ask``."""

    @classmethod
    def ask(cls, parent: QWidget) -> str | None:
        path, _ = QFileDialog.getOpenFileName(parent, "Add a GGUF model", str(Path.home()), "GGUF models (*.gguf)")
        return path or None


class ConfirmRemoveModel:
    """Removing a downloaded model deletes its file: a decision, so a dialog. Tests patch ``ask``."""

    @classmethod
    def ask(cls, parent: QWidget, model: ModelView) -> bool:
        what = ("Its downloaded file is deleted; you can install it again later." if model.source == "catalog"
                else "The file itself is not touched; Footnote just forgets it.")
        return messages.decide(parent, "Remove model", f"Remove “{model.name}”?\n\n{what}", "Remove",
                               destructive=True)


class UseDroppedModel:
    """A ``.gguf`` dropped on the window is a model, not a document: offer to answer with it."""

    @classmethod
    def ask(cls, parent: QWidget, name: str) -> bool:
        return messages.decide(parent, "Use as model", f"“{name}” is a GGUF model file, not a document.\n\n"
                               "Use it as the model that answers your questions?", "Use as model")


def status_of(m: ModelView) -> str:
    if m.in_use:
        return "In use"
    if m.installed:
        return "Installed" + (" (bundled)" if m.source == "bundled" else "")
    return "Not installed"


def details_of(m: ModelView) -> str:
    """The selected model in full: the table elides its "when to pick it"."""
    facts = [human_bytes(m.size_bytes) if m.size_bytes else "", f"needs about {m.ram_gb:.1f} GB of RAM"
             if m.ram_gb else "", f"{m.context:,} tokens of context" if m.context else "", m.licence]
    head = f"{m.name}: " + " · ".join(f for f in facts if f)
    where = m.path or (f"downloads as {m.file}" if m.file and not m.installed else "")
    return "\n".join(p for p in (head, m.pick_when, where) if p)


class ModelManager(QDialog):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelManager")
        self.setWindowTitle("Models")
        self.services = services
        self.models: list[ModelView] = []
        self.job: ModelJob | None = None
        self._select_next: str | None = None  # a model just added: selected once the list has it

        intro = QLabel("The model reads the passages Footnote finds and writes the answer. Larger models "
                       "answer better and need more memory; every model runs on this computer.")
        intro.setWordWrap(True)
        intro.setObjectName("muted")
        self.table = QTreeWidget()
        self.table.setObjectName("models")
        self.table.setColumnCount(len(COLUMNS))
        self.table.setHeaderLabels(list(COLUMNS))
        self.table.setRootIsDecorated(False)
        self.table.setUniformRowHeights(True)
        self.table.setWordWrap(True)
        self.table.setAlternatingRowColors(True)
        header = self.table.header()
        header.setStretchLastSection(False)
        for col in range(len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.details = QLabel()
        self.details.setObjectName("modelDetails")
        self.details.setWordWrap(True)
        self.details.setTextFormat(Qt.TextFormat.PlainText)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.progress = QProgressBar()
        self.progress.setObjectName("downloadProgress")
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(10)
        self.progress_text = QLabel()
        self.progress_text.setObjectName("downloadText")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelDownload")
        self.cancel_button.clicked.connect(self.cancel_install)
        prow = QHBoxLayout()
        prow.addWidget(self.progress, 1)
        prow.addWidget(self.progress_text)
        prow.addWidget(self.cancel_button)
        self.progress_row = QWidget()
        self.progress_row.setLayout(prow)
        prow.setContentsMargins(0, 0, 0, 0)
        self.progress_row.hide()

        self.line = QLabel()
        self.line.setObjectName("modelLine")
        self.line.setWordWrap(True)
        self.line.hide()

        self.install_button = QPushButton("Install")
        self.install_button.clicked.connect(self.install)
        self.use_button = QPushButton("Use")
        self.use_button.clicked.connect(self.use)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove)
        self.add_button = QPushButton("Add GGUF file…")
        self.add_button.clicked.connect(self.add_file)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        for b in (self.install_button, self.use_button, self.remove_button, self.add_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)

        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.progress_row)
        layout.addWidget(self.line)
        layout.addLayout(buttons)
        self.resize(900, 420)
        services.model_changed.connect(self.refresh)
        running = next((j for j in services.model_jobs if not j.is_finished), None)
        if running is not None:
            self._attach(running)
        self._update_buttons()
        self.refresh()

    # -- list -----------------------------------------------------------------------------------

    def refresh(self) -> None:
        self.services.models(self._fill, self._show_error)

    def _fill(self, models: list[ModelView]) -> None:
        current = self.selected()
        keep = self._select_next or (current.id if current is not None else None)
        self.models = models
        self.table.clear()
        for m in models:
            ram = f"{m.ram_gb:.1f} GB" if m.ram_gb else "—"
            size = human_bytes(m.size_bytes) if m.size_bytes else "—"
            item = QTreeWidgetItem([m.name, size, ram, m.licence or "—", m.pick_when or "", status_of(m)])
            item.setData(0, Qt.ItemDataRole.UserRole, m.id)
            item.setToolTip(0, m.path or m.file)
            item.setToolTip(4, m.pick_when)
            if m.in_use:
                font = item.font(0)
                font.setBold(True)
                for col in range(len(COLUMNS)):
                    item.setFont(col, font)
            self.table.addTopLevelItem(item)
            if m.id == keep:
                self.table.setCurrentItem(item)
                self._select_next = None
        first = self.table.topLevelItem(0)
        if self.table.currentItem() is None and first is not None:
            self.table.setCurrentItem(first)
        self._update_buttons()

    def selected(self) -> ModelView | None:
        item = self.table.currentItem()
        if item is None:
            return None
        mid = item.data(0, Qt.ItemDataRole.UserRole)
        return next((m for m in self.models if m.id == mid), None)

    def select(self, model_id: str) -> None:
        for i in range(self.table.topLevelItemCount()):
            item = self.table.topLevelItem(i)
            if item is not None and item.data(0, Qt.ItemDataRole.UserRole) == model_id:
                self.table.setCurrentItem(item)
                return

    def _update_buttons(self) -> None:
        m = self.selected()
        self.details.setText(details_of(m) if m is not None else "")
        downloading = self.job is not None and not self.job.is_finished
        self.install_button.setEnabled(m is not None and not m.installed and m.source == "catalog"
                                       and not downloading)
        self.use_button.setEnabled(m is not None and m.installed and not m.in_use)
        self.remove_button.setEnabled(m is not None and m.installed and not m.in_use and m.source != "bundled")
        self.remove_button.setToolTip("The bundled model comes with Footnote" if m is not None and
                                      m.source == "bundled" else "")

    # -- install --------------------------------------------------------------------------------

    def install(self) -> None:
        m = self.selected()
        if m is None or (self.job is not None and not self.job.is_finished):
            return
        self._attach(self.services.install_model(m.id, m.name))
        self._say(f"Installing {m.name}…")

    def _attach(self, job: ModelJob) -> None:
        self.job = job
        job.progress.connect(self._progress)
        job.installed.connect(self._installed)
        job.cancelled.connect(self._cancelled)
        job.failed.connect(self._failed)
        self.progress.setRange(0, 0)
        self.progress_text.setText(f"{job.name}: starting…")
        self.cancel_button.setEnabled(True)
        self.progress_row.show()
        if job.last is not None:
            self._progress(job.last)
        self._update_buttons()

    def _progress(self, view: DownloadView) -> None:
        if view.total_bytes:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(1.0, view.done_bytes / view.total_bytes)))
        name = self.job.name if self.job is not None else ""
        self.progress_text.setText(f"{name}: {view.text()}")

    def cancel_install(self) -> None:
        if self.job is not None and not self.job.is_finished:
            self.job.cancel()
            self.cancel_button.setEnabled(False)
            self.progress_text.setText(f"{self.job.name}: cancelling…")

    def _download_ended(self) -> None:
        self.progress_row.hide()
        self._update_buttons()

    def _installed(self, _path: str) -> None:
        name = self.job.name if self.job is not None else "the model"
        self._download_ended()
        self._say(f"{name} is installed. Choose Use to answer with it.")
        messages.info(f"{name} installed")

    def _cancelled(self) -> None:
        name = self.job.name if self.job is not None else "the model"
        self._download_ended()
        self._say(f"Download of {name} cancelled; installing again resumes where it stopped.")
        messages.info(f"Download of {name} cancelled")

    def _failed(self, message: str) -> None:
        self._download_ended()
        self._show_error(message)

    # -- use, remove, add -----------------------------------------------------------------------

    def use(self) -> None:
        m = self.selected()
        if m is None:
            return
        self.use_button.setEnabled(False)

        def done(_view: ModelView | None, name: str = m.name) -> None:
            self._say(f"{name} now answers your questions.")
            messages.info(f"{name} now answers your questions")

        self.services.use_model(m.id, m.name, done, self._show_error)

    def remove(self) -> None:
        m = self.selected()
        if m is None or not ConfirmRemoveModel.ask(self, m):
            return
        self.remove_button.setEnabled(False)

        def done(_: object, name: str = m.name) -> None:
            self._say(f"{name} removed.")
            messages.info(f"Removed {name}")

        self.services.remove_model(m.id, m.name, done, self._show_error)

    def add_file(self) -> None:
        path = ChooseGguf.ask(self)
        if not path:
            return

        def done(view: ModelView | None) -> None:
            name = view.name if view is not None else Path(path).name
            if view is not None:
                self._select_next = view.id
                self.select(view.id)
            self._say(f"{name} added. Choose Use to answer with it.")
            messages.info(f"Added {name}")

        self.services.add_model(path, done, self._show_error)

    # -- messages -------------------------------------------------------------------------------

    def _say(self, text: str) -> None:
        self.line.setObjectName("muted")
        self.line.setText(text)
        self._repolish()

    def _show_error(self, text: str) -> None:
        self.line.setObjectName("errorText")
        self.line.setText(text)
        self._repolish()
        self._update_buttons()
        messages.error(text)

    def _repolish(self) -> None:
        self.line.show()
        self.line.style().unpolish(self.line)
        self.line.style().polish(self.line)
