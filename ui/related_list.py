"""Documents like the selected one, under the library list (by their embeddings, no model call)."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from desktop.services import DocumentView
from desktop.workers import emit


class RelatedList(QWidget):
    """Shows up to five related documents for one selected document; a click selects one."""

    wanted = Signal(object)  # DocumentView: find documents like this one
    chosen = Signal(str)  # source of a related document the user clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel("")
        self.title.setObjectName("muted")
        self.title.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("related")
        self.list.setAccessibleName("Related documents")
        self.list.setMaximumHeight(110)
        self.list.itemActivated.connect(self._activated)
        self.list.itemClicked.connect(self._activated)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.title)
        layout.addWidget(self.list)
        self.doc: DocumentView | None = None
        self._pending = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(250)  # a selection swept with the arrow keys asks once
        self._timer.timeout.connect(self._ask)
        self.setVisible(False)

    def follow(self, docs: list[DocumentView]) -> None:
        """The library selection changed: one ready document gets its related list, else none."""
        one = docs[0] if len(docs) == 1 and docs[0].status == "ready" else None
        if one is None:
            self.doc = None
            self._pending = False
            self._timer.stop()
            self.setVisible(False)
            return
        if self.doc is not None and self.doc.id == one.id and (self.isVisible() or self._timer.isActive()
                                                               or self._pending):
            return  # already shown, or on its way
        self.doc = one
        self._pending = False
        self._timer.start()

    def _ask(self) -> None:
        if self.doc is not None:
            self._pending = True
            emit(self.wanted, self.doc)

    def show_related(self, doc_id: str, related: list[tuple[DocumentView, float]]) -> None:
        if self.doc is None or self.doc.id != doc_id:
            return  # the selection moved on while this was computed
        self._pending = False
        self.list.clear()
        for d, score in related:
            item = QListWidgetItem(d.title or d.source)
            item.setToolTip(f"{d.source}\nsimilarity {score:.2f}")
            item.setData(Qt.ItemDataRole.UserRole, d.source)
            self.list.addItem(item)
        self.title.setText(f"Like “{self.doc.title or self.doc.source}”:" if related else "No related documents yet.")
        self.list.setVisible(bool(related))
        self.setVisible(True)

    def _activated(self, item: QListWidgetItem) -> None:
        emit(self.chosen, str(item.data(Qt.ItemDataRole.UserRole)))
