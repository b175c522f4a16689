"""The conversation list: pick, rename (F2) and delete (Del) past conversations."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.workers import emit
from ui import messages

log = logging.getLogger(__name__)


class ConfirmDelete:
    """Deleting a conversation cannot be undone: a decision, so a dialog. Tests patch ``ask``."""

    @classmethod
    def ask(cls, parent: QWidget, title: str) -> bool:
        return messages.decide(parent, "Delete conversation", f"Delete the conversation “{title}”?", "Delete",
                               destructive=True)


class RenameDialog:
    @classmethod
    def ask(cls, parent: QWidget, title: str) -> str | None:
        text, ok = QInputDialog.getText(parent, "Rename conversation", "Name:", text=title)
        return text.strip() if ok and text.strip() else None


class ExportDialog:
    """Where to save an export, and as what. Tests patch ``ask``."""

    @classmethod
    def ask(cls, parent: QWidget, title: str) -> tuple[str, str] | None:
        safe = "".join(ch if ch.isalnum() or ch in " -_" else "_" for ch in title).strip() or "conversation"
        path, chosen = QFileDialog.getSaveFileName(parent, "Export conversation", f"{safe}.md",
                                                   "Markdown (*.md);;JSON (*.json)")
        if not path:
            return None
        fmt = "json" if path.lower().endswith(".json") or chosen.startswith("JSON") else "md"
        return path, fmt


class ConversationList(QWidget):
    selected = Signal(str)  # conversation id
    new_requested = Signal()
    rename_requested = Signal(str, str)
    delete_requested = Signal(str)
    export_requested = Signal(str, str, str)  # conversation id, path, format (md or json)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        header = QLabel("Conversations")
        header.setObjectName("paneTitle")
        self.new_button = QToolButton()
        self.new_button.setText("+ New")
        self.new_button.setToolTip("New conversation (Ctrl+N)")
        self.new_button.setAutoRaise(True)
        self.new_button.clicked.connect(self.new_requested)
        self.list = QListWidget()
        self.list.setObjectName("conversations")
        self.list.setAccessibleName("Conversations")
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setUniformItemSizes(True)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.currentItemChanged.connect(self._current_changed)
        self.list.installEventFilter(self)
        top = QHBoxLayout()
        top.addWidget(header)
        top.addStretch(1)
        top.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.list, 1)
        self._quiet = False

    def set_conversations(self, items: list[tuple[str, str]], current: str | None) -> None:
        self._quiet = True
        try:
            self.list.clear()
            for cid, title in items:
                it = QListWidgetItem(title or "Untitled")
                it.setData(Qt.ItemDataRole.UserRole, cid)
                it.setToolTip(title)
                self.list.addItem(it)
                if cid == current:
                    self.list.setCurrentItem(it)
        finally:
            self._quiet = False

    def current_id(self) -> str | None:
        it = self.list.currentItem()
        return str(it.data(Qt.ItemDataRole.UserRole)) if it is not None else None

    def _current_changed(self, cur: QListWidgetItem | None, _prev: Any) -> None:
        if cur is not None and not self._quiet:
            emit(self.selected, cur.data(Qt.ItemDataRole.UserRole))

    def rename_current(self) -> None:
        it = self.list.currentItem()
        if it is None:
            return
        title = RenameDialog.ask(self, it.text())
        if title:
            emit(self.rename_requested, it.data(Qt.ItemDataRole.UserRole), title)

    def export_current(self) -> None:
        it = self.list.currentItem()
        if it is None:
            return
        choice = ExportDialog.ask(self, it.text())
        if choice is not None:
            emit(self.export_requested, it.data(Qt.ItemDataRole.UserRole), choice[0], choice[1])

    def delete_current(self) -> None:
        it = self.list.currentItem()
        if it is not None and ConfirmDelete.ask(self, it.text()):
            emit(self.delete_requested, it.data(Qt.ItemDataRole.UserRole))

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self.list and event.type() == QEvent.Type.KeyPress:
            key = event.key()  # type: ignore[attr-defined]
            if key == Qt.Key.Key_Delete:
                self.delete_current()
                return True
            if key == Qt.Key.Key_F2:
                self.rename_current()
                return True
        return super().eventFilter(obj, event)

    def _menu(self, pos: Any) -> None:
        if self.list.itemAt(pos) is None:
            return
        menu = QMenu(self)
        menu.addAction("Rename…", self.rename_current)
        menu.addAction("Export…", self.export_current)
        menu.addAction("Delete", self.delete_current)
        menu.exec(self.list.viewport().mapToGlobal(pos))
