"""The library: every document with its type, title, source, chunk count and status.

Rows are keyed by source (a path or URL), the same key the engine uses, so progress events from
an import and the engine's document list update the same row. Failed rows keep their reason on
screen: the user should never have to hover to learn why something did not import.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    QSortFilterProxyModel,
    Qt,
    Signal,
)
from PySide6.QtGui import QAction, QColor, QFont, QFontMetrics, QIcon, QPainter, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QMenu,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services import UNCHANGED, DocumentView, IngestEvent, display_title
from desktop.workers import emit
from ui import messages
from ui.icons import kind_icon, kind_of
from ui.related_list import RelatedList

log = logging.getLogger(__name__)

DocRole = Qt.ItemDataRole.UserRole + 1
StatusRole = Qt.ItemDataRole.UserRole + 2
SourceRole = Qt.ItemDataRole.UserRole + 3
ErrorRole = Qt.ItemDataRole.UserRole + 4
ChunksRole = Qt.ItemDataRole.UserRole + 5
FilterRole = Qt.ItemDataRole.UserRole + 6

ModelIndex = QModelIndex | QPersistentModelIndex


def _short_source(source: str) -> str:
    return source.replace("https://", "").replace("http://", "")


def status_text(doc: DocumentView) -> str:
    if doc.status == "ready":
        return f"{doc.chunks} chunk{'s' if doc.chunks != 1 else ''}"
    if doc.status == "importing":
        if doc.total:
            return f"importing {int(100 * doc.done / doc.total)}%"
        return "importing…"
    if doc.status == "failed":
        return "failed"
    return doc.status


class LibraryModel(QAbstractListModel):
    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[DocumentView] = []

    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 - Qt API
        return 0 if parent.isValid() else len(self._rows)

    def documents(self) -> list[DocumentView]:
        return list(self._rows)

    def row_of(self, source: str) -> int:
        for i, d in enumerate(self._rows):
            if d.source == source or d.id == source:
                return i
        return -1

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        d = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return d.title or _short_source(d.source)
        if role == Qt.ItemDataRole.DecorationRole:
            return kind_icon(kind_of(d.kind, d.source))
        if role == Qt.ItemDataRole.ToolTipRole:
            tip = f"{d.title}\n{d.source}\n{status_text(d)}"
            return tip + (f"\n{d.error}" if d.error else "")
        if role == DocRole:
            return d
        if role == StatusRole:
            return d.status
        if role == SourceRole:
            return d.source
        if role == ErrorRole:
            return d.error
        if role == ChunksRole:
            return d.chunks
        if role == FilterRole:
            return f"{d.title} {d.source} {d.status} {d.kind}"
        return None

    def set_documents(self, docs: list[DocumentView], keep_importing: set[str] | None = None) -> None:
        """Replace the rows with the engine's list, keeping rows of items still being imported."""
        keep = keep_importing or set()
        by_source = {d.source: d for d in docs}
        extra = [d for d in self._rows if d.source in keep and d.source not in by_source]
        # An item still importing keeps its live progress even if the engine lists an older state.
        live = {d.source: d for d in self._rows if d.source in keep}
        merged = [live.get(d.source, d) if d.source in keep else d for d in docs]
        self.beginResetModel()
        self._rows = extra + merged
        self.endResetModel()

    def apply_event(self, ev: IngestEvent) -> None:
        """Update (or add) the row an ingest event is about."""
        i = self.row_of(ev.source)
        old = self._rows[i] if i >= 0 else None
        title = display_title(ev.title or (old.title if old else ""), ev.source)
        kind = old.kind if old else ("pdf" if ev.source.lower().endswith(".pdf") else
                                     "docx" if ev.source.lower().endswith(".docx") else
                                     "markdown" if ev.source.lower().endswith((".md", ".markdown")) else "text")
        if ev.kind in ("started", "chunked", "embedded"):
            done, total = ev.done, ev.total or (old.total if old else 0)
            if old is not None and old.status == "importing" and old.total and (
                    not total or done / total < old.done / old.total):
                done, total = old.done, old.total  # a row's percentage never moves back
            doc = DocumentView(ev.document_id or (old.id if old else ""), ev.source, title, kind, "importing",
                               old.chunks if old else 0, "", done, total)
        elif ev.kind == "done":
            doc = DocumentView(ev.document_id, ev.source, title, kind, "ready", ev.total, "", ev.total, ev.total)
        elif ev.kind == "removed":  # its file left a watched folder
            if old is not None:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
            return
        elif ev.kind == "skipped" and ev.error != UNCHANGED:
            # Not imported on purpose (a link out of the folder, an unsupported type): no row of its
            # own; a row that appeared while it was being read goes away again.
            if old is not None and old.status == "importing" and not old.chunks:
                self.beginRemoveRows(QModelIndex(), i, i)
                del self._rows[i]
                self.endRemoveRows()
            return
        elif ev.kind == "skipped":
            if old is not None and old.status == "importing" and not old.chunks:
                doc = DocumentView(old.id, ev.source, title, kind, "ready", old.total, "")
            else:
                doc = DocumentView(ev.document_id, ev.source, title, kind, "ready", old.chunks if old else 0, "")
        elif ev.kind == "failed":
            # A document that was ready before stays ready: the engine keeps its old chunks.
            if old is not None and old.chunks and old.status != "failed" and "cancelled" not in ev.error:
                doc = DocumentView(old.id, ev.source, title, kind, "ready", old.chunks, ev.error)
            elif old is not None and old.chunks and "cancelled" in ev.error:
                doc = DocumentView(old.id, ev.source, title, kind, "ready", old.chunks, "")
            else:
                doc = DocumentView(ev.document_id, ev.source, title, kind, "failed", 0, ev.error)
        else:
            return
        if i >= 0:
            self._rows[i] = doc
            idx = self.index(i)
            emit(self.dataChanged, idx, idx)
        else:
            self.beginInsertRows(QModelIndex(), 0, 0)
            self._rows.insert(0, doc)
            self.endInsertRows()


class LibraryDelegate(QStyledItemDelegate):
    """Two lines per document (three when it failed: the reason is always visible)."""

    PAD = 6
    ICON = 28

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._heights: dict[str, tuple[int, int]] = {}

    def _fonts(self, option: QStyleOptionViewItem) -> tuple[QFont, QFont]:
        bold = QFont(option.font)
        bold.setBold(True)
        small = QFont(option.font)
        small.setPointSizeF(max(6.0, option.font.pointSizeF() * 0.88))
        return bold, small

    def _line_heights(self, option: QStyleOptionViewItem) -> tuple[int, int]:
        """(bold line, small line) heights, measured once per font: a list of thousands of rows asks
        for every row's size on each layout."""
        key = option.font.key()
        heights = self._heights.get(key)
        if heights is None:
            bold, small = self._fonts(option)
            heights = self._heights[key] = (QFontMetrics(bold).height(), QFontMetrics(small).height())
        return heights

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:  # noqa: N802
        bold_h, small_h = self._line_heights(option)
        lines = bold_h + small_h
        if index.data(StatusRole) == "failed" or index.data(ErrorRole):
            lines += small_h
        return QSize(200, max(self.ICON, lines) + 2 * self.PAD + 2)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        doc: DocumentView | None = index.data(DocRole)
        if doc is None:
            return
        painter.save()
        style = option.widget.style() if option.widget is not None else None
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        opt.icon = QIcon()  # drawn below, at our size
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, option.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        pal: QPalette = option.palette
        fg = pal.color(QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text)
        muted = QColor(fg)
        muted.setAlphaF(0.65)
        r = option.rect.adjusted(self.PAD, self.PAD, -self.PAD, -self.PAD)
        kind_icon(kind_of(doc.kind, doc.source)).paint(painter, QRect(r.left(), r.top(), self.ICON, self.ICON))
        text_left = r.left() + self.ICON + self.PAD
        bold, small = self._fonts(option)
        fm_b, fm_s = QFontMetrics(bold), QFontMetrics(small)
        status = status_text(doc)
        status_w = fm_s.horizontalAdvance(status) + 12
        # status chip, right-aligned on the first line
        chip = QRect(r.right() - status_w, r.top() + 1, status_w, fm_s.height() + 2)
        colour = {"ready": QColor("#2e9e5b"), "importing": QColor("#d9a21b"), "failed": QColor("#d64545")}.get(
            doc.status, muted)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        chip_bg = QColor(colour)
        chip_bg.setAlphaF(0.18)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(chip_bg)
        painter.drawRoundedRect(chip, 6, 6)
        painter.setFont(small)
        painter.setPen(fg if selected else colour.darker(110) if pal.color(QPalette.ColorRole.Base).lightness() > 128
                       else colour.lighter(130))
        painter.drawText(chip, Qt.AlignmentFlag.AlignCenter, status)
        # title
        painter.setFont(bold)
        painter.setPen(fg)
        title_w = chip.left() - text_left - 6
        title = fm_b.elidedText(doc.title or _short_source(doc.source), Qt.TextElideMode.ElideRight, title_w)
        painter.drawText(QRect(text_left, r.top(), title_w, fm_b.height()), Qt.AlignmentFlag.AlignVCenter, title)
        # source
        y = r.top() + fm_b.height()
        painter.setFont(small)
        painter.setPen(muted)
        src = fm_s.elidedText(_short_source(doc.source), Qt.TextElideMode.ElideMiddle, r.right() - text_left)
        painter.drawText(QRect(text_left, y, r.right() - text_left, fm_s.height()), Qt.AlignmentFlag.AlignVCenter, src)
        if doc.error:
            y += fm_s.height()
            painter.setPen(fg if selected else QColor("#d64545"))
            # The message names the item for the status bar; the row already shows the source.
            shown = doc.error.removeprefix(doc.source + ": ")
            reason = fm_s.elidedText(shown, Qt.TextElideMode.ElideRight, r.right() - text_left)
            painter.drawText(QRect(text_left, y, r.right() - text_left, fm_s.height()),
                             Qt.AlignmentFlag.AlignVCenter, reason)
        painter.restore()


class ConfirmRemove:
    """A decision, so a dialog. Tests patch ``ask``."""

    @classmethod
    def ask(cls, parent: QWidget, title: str) -> bool:
        return messages.decide(parent, "Remove document",
                               f"Remove “{title}” from the library?\n\nThe file itself is not touched.", "Remove",
                               destructive=True)


LOADING_TEXT = "Opening the library…"
EMPTY_TEXT = "No documents yet.\nDrop files or folders here, use Add files… (Ctrl+O), or paste a link above (Ctrl+L)."


class LibraryPanel(QWidget):
    remove_requested = Signal(list)  # list[DocumentView]: confirmed once for the whole selection
    reimport_requested = Signal(object)
    open_requested = Signal(object)
    ask_requested = Signal(list)  # list[DocumentView]: scope the chat to these

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = LibraryModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterRole(FilterRole)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

        header = QLabel("Library")
        header.setObjectName("paneTitle")
        self.count_label = QLabel("")
        self.count_label.setObjectName("muted")
        self.watched_label = QLabel("")  # the watched folders, when there are any
        self.watched_label.setObjectName("muted")
        self.watched_label.setWordWrap(True)
        self.watched_label.hide()
        self.filter = QLineEdit()
        self.filter.setPlaceholderText("Filter documents")
        self.filter.setAccessibleName("Filter documents")
        self.filter.setClearButtonEnabled(True)
        self.filter.textChanged.connect(self.proxy.setFilterFixedString)

        self.view = QListView()
        self.view.setObjectName("library")
        self.view.setAccessibleName("Library documents")
        self.view.setModel(self.proxy)
        self.view.setItemDelegate(LibraryDelegate(self.view))
        self.view.setUniformItemSizes(False)
        self.view.setSelectionMode(QListView.SelectionMode.ExtendedSelection)
        self.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.view.customContextMenuRequested.connect(self._menu)
        self.view.doubleClicked.connect(lambda _i: self._emit(self.open_requested))
        self.view.setVerticalScrollMode(QListView.ScrollMode.ScrollPerPixel)
        # Thousands of rows are laid out a batch at a time between events, not in one long pass.
        self.view.setLayoutMode(QListView.LayoutMode.Batched)
        self.view.setBatchSize(100)

        # Until the library's list first arrives nothing is known: say so instead of "no documents".
        self._loading = True
        self._batching = False
        self.empty = QLabel(LOADING_TEXT)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setObjectName("muted")

        self.remove_action = QAction("Remove", self)
        self.remove_action.setShortcut("Del")
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.remove_action.triggered.connect(self._remove)
        self.reimport_action = QAction("Re-import", self)
        self.reimport_action.triggered.connect(lambda: self._emit(self.reimport_requested))
        self.open_action = QAction("Open original", self)
        self.open_action.triggered.connect(lambda: self._emit(self.open_requested))
        self.ask_action = QAction("Ask about", self)
        self.ask_action.setObjectName("askAbout")
        self.ask_action.setToolTip("Ask questions about just the selected documents (Ctrl+Shift+A)")
        self.ask_action.triggered.connect(lambda: emit(self.ask_requested, self.selected()))
        self.view.addAction(self.remove_action)

        buttons = QHBoxLayout()
        buttons.setSpacing(4)
        for action in (self.ask_action, self.open_action, self.reimport_action, self.remove_action):
            b = QToolButton()
            b.setDefaultAction(action)
            b.setAutoRaise(True)
            buttons.addWidget(b)
        buttons.addStretch(1)

        top = QHBoxLayout()
        top.addWidget(header)
        top.addStretch(1)
        top.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 4)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.watched_label)
        layout.addWidget(self.filter)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.empty, 1)
        layout.addLayout(buttons)
        self.related = RelatedList()
        self.related.chosen.connect(self.select_source)
        layout.addWidget(self.related)

        self.view.selectionModel().selectionChanged.connect(self._update_actions)
        self._kept_selection: list[str] = []
        self._kept_current: str | None = None
        self.model.modelAboutToBeReset.connect(self._remember_selection)
        self.model.modelReset.connect(self._restore_selection)
        self.model.modelReset.connect(self._update_state)
        self.model.rowsInserted.connect(self._update_state)
        self.model.dataChanged.connect(self._update_state)
        self._update_state()

    # -- state ----------------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        return self._loading

    def set_watched(self, folders: list[str]) -> None:
        """Show which folders the library follows (their changes arrive on their own)."""
        names = ", ".join(Path(f).name or f for f in folders)
        self.watched_label.setText(f"Watching: {names}" if folders else "")
        self.watched_label.setToolTip("\n".join(folders))
        self.watched_label.setVisible(bool(folders))

    def set_loading(self, loading: bool, text: str = LOADING_TEXT) -> None:
        """``loading``: the list is not known yet (the library is opening, or could not be opened,
        then ``text`` says so); otherwise the rows are the library's and an empty list means empty."""
        self._loading = loading
        self.empty.setText(text if loading else EMPTY_TEXT)
        self._update_state()

    @property
    def batching(self) -> bool:
        return self._batching

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Many row changes at once (a batch of import events): the counts, the empty state and
        the actions are brought up to date once at the end, not once per row."""
        self._batching = True
        try:
            yield
        finally:
            self._batching = False
            self._update_state()

    def _update_state(self, *_: Any) -> None:
        if self._batching:
            return
        docs = self.model.documents()
        empty = not docs
        self.view.setVisible(not empty)
        self.empty.setVisible(empty)
        ready = sum(1 for d in docs if d.status == "ready")
        self.count_label.setText(f"{ready} ready" if docs else "")
        self._update_actions()

    def _update_actions(self, *_: Any) -> None:
        docs = self.selected()
        if hasattr(self, "related"):
            self.related.follow(docs)
        self.remove_action.setEnabled(bool(docs))
        self.reimport_action.setEnabled(bool(docs))
        self.open_action.setEnabled(len(docs) == 1)
        self.ask_action.setEnabled(any(d.status == "ready" for d in docs))

    def _remember_selection(self) -> None:
        self._kept_selection = [d.source for d in self.selected()]
        current = self.view.currentIndex()
        self._kept_current = self.proxy.data(current, DocRole).source if current.isValid() else None

    def _restore_selection(self) -> None:
        """A refresh of the list keeps what the user had selected."""
        sources = self._kept_selection
        if not sources:
            return
        from PySide6.QtCore import QItemSelection, QItemSelectionModel

        selection = QItemSelection()
        for source in sources:
            row = self.model.row_of(source)
            if row >= 0:
                index = self.proxy.mapFromSource(self.model.index(row))
                selection.select(index, index)
        flags = QItemSelectionModel.SelectionFlag.ClearAndSelect
        self.view.selectionModel().select(selection, flags)
        current = self._kept_current
        if current is not None and (row := self.model.row_of(current)) >= 0:
            self.view.selectionModel().setCurrentIndex(self.proxy.mapFromSource(self.model.index(row)),
                                                       QItemSelectionModel.SelectionFlag.NoUpdate)
        self._kept_selection = []

    def selected(self) -> list[DocumentView]:
        return [self.proxy.data(i, DocRole) for i in self.view.selectionModel().selectedRows()]

    def select_source(self, source: str) -> None:
        row = self.model.row_of(source)
        if row >= 0:
            self.view.setCurrentIndex(self.proxy.mapFromSource(self.model.index(row)))

    def _emit(self, signal: Any) -> None:
        for doc in self.selected():
            emit(signal, doc)

    def _remove(self) -> None:
        docs = self.selected()
        if not docs:
            return
        name = docs[0].title or docs[0].source if len(docs) == 1 else f"{len(docs)} documents"
        if ConfirmRemove.ask(self, name):
            emit(self.remove_requested, docs)

    def _menu(self, pos: Any) -> None:
        if not self.selected():
            return
        menu = QMenu(self)
        menu.addAction(self.ask_action)
        menu.addAction(self.open_action)
        menu.addAction(self.reimport_action)
        menu.addSeparator()
        menu.addAction(self.remove_action)
        menu.exec(self.view.viewport().mapToGlobal(pos))
