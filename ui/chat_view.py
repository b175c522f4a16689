"""The chat: conversation list, messages with streamed markdown answers, citations and sources.

Each message is its own widget, so a streaming answer re-renders only itself, and at most every
``RENDER_MS``: re-laying out a whole conversation per token is what makes chat windows stutter.
Citation markers ``[n]`` become links with the ``cite:`` scheme; clicking one asks the window to
show that passage in the source viewer.
"""

from __future__ import annotations

import html
import logging
import re
from typing import Any

from PySide6.QtCore import QEvent, QMimeData, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services import AnswerResult, CitationView
from desktop.workers import emit
from ui.import_panel import looks_like_url

log = logging.getLogger(__name__)

RENDER_MS = 50
_MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:[,;]|-|–)\s*\d+)*)\s*\](?!\()")


def _expand(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*[,;]\s*", group):
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            a, b = int(bounds[0]), int(bounds[1])
            if 0 < a <= b <= a + 20:
                out.extend(range(a, b + 1))
                continue
        if part.strip().isdigit():
            out.append(int(part))
    return out


def link_markers(markdown: str) -> str:
    """``[1]`` and ``[2, 3]`` become markdown links ``cite:n`` that the label reports on click."""
    def repl(m: re.Match[str]) -> str:
        nums = _expand(m.group(1))
        if not nums:
            return m.group(0)
        return "".join(f"[\\[{n}\\]](cite:{n})" for n in nums)

    return _MARKER.sub(repl, markdown)


_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def tame_headings(markdown: str) -> str:
    """Small models echo their sources' ``# Headings``; in a chat bubble they become bold lines,
    not page titles."""
    return _HEADING.sub(lambda m: f"**{m.group(1)}**", markdown)


def snippet(text: str, limit: int = 160) -> str:
    flat = " ".join(_HEADING.sub(lambda m: m.group(1) + " —", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def source_line(c: CitationView) -> str:
    where = []
    if c.page:
        where.append(f"p. {c.page}")
    if c.section and c.section.strip() != c.title.strip():
        where.append(c.section)
    return " · ".join(where)


class UserBubble(QFrame):
    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("userBubble")
        label = QLabel(text)
        label.setWordWrap(True)
        label.setTextFormat(Qt.TextFormat.PlainText)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 8)
        layout.addWidget(label)
        self.label = label


class AnswerWidget(QFrame):
    """One answer: streamed markdown, then its numbered sources."""

    citation_clicked = Signal(object)  # CitationView

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("answer")
        self.text = ""
        self.citations: dict[int, CitationView] = {}
        self.retrieved: dict[int, CitationView] = {}
        self.finished = False
        self.status = QLabel("Searching your documents…")
        self.status.setObjectName("muted")
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setFixedHeight(4)
        self.busy.setTextVisible(False)
        self.label = QLabel()
        self.label.setObjectName("answerText")
        self.label.setTextFormat(Qt.TextFormat.MarkdownText)
        self.label.setWordWrap(True)
        self.label.setOpenExternalLinks(False)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.label.linkActivated.connect(self._link)
        self.label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        self.label.hide()
        self.sources_title = QLabel("Sources")
        self.sources_title.setObjectName("sourcesTitle")
        self.sources = QLabel()
        self.sources.setObjectName("sources")
        self.sources.setTextFormat(Qt.TextFormat.RichText)
        self.sources.setWordWrap(True)
        self.sources.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.sources.linkActivated.connect(self._link)
        self.sources_title.hide()
        self.sources.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 10)
        layout.setSpacing(6)
        layout.addWidget(self.status)
        layout.addWidget(self.busy)
        layout.addWidget(self.label)
        layout.addWidget(self.sources_title)
        layout.addWidget(self.sources)
        self._dirty = False
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RENDER_MS)
        self._timer.timeout.connect(self._render)

    # -- streaming ------------------------------------------------------------------------------

    def set_retrieved(self, passages: list[CitationView]) -> None:
        self.retrieved = {p.n: p for p in passages}
        if not self.text:
            self.status.setText("Writing the answer…" if passages else "Thinking…")

    def append(self, piece: str) -> None:
        self.text += piece
        if not self._timer.isActive():
            self._timer.start()

    def _render(self) -> None:
        if self.text:
            self.status.hide()
            self.busy.hide()
            self.label.show()
        self.label.setText(link_markers(tame_headings(self.text)) if self.text else "")

    def finish(self, result: AnswerResult) -> None:
        self.finished = True
        self._timer.stop()
        self.text = result.text or self.text
        self.citations = {c.n: c for c in result.citations}
        if result.stopped:
            self.text = (self.text.rstrip() + "\n\n*Stopped.*") if self.text else "*Stopped before the answer began.*"
        self._render()
        self.status.hide()
        self.busy.hide()
        self.label.show()
        self._show_sources()

    def fail(self, reason: str) -> None:
        self.finished = True
        self._timer.stop()
        self.busy.hide()
        self.label.hide()
        self.status.setObjectName("errorText")
        self.status.setText(reason)
        self.status.setWordWrap(True)
        self.status.show()
        self.style().unpolish(self.status)
        self.style().polish(self.status)

    def _show_sources(self) -> None:
        if not self.citations:
            return
        items = []
        for n in sorted(self.citations):
            c = self.citations[n]
            where = source_line(c)
            title = html.escape(c.title or c.source)
            extra = f" <span class='where'>— {html.escape(where)}</span>" if where else ""
            items.append(
                f"<p style='margin:0 0 6px 0'><a href='cite:{n}'>[{n}]</a> <b>{title}</b>{extra}<br>"
                f"<span style='opacity:0.8'>{html.escape(snippet(c.text))}</span></p>"
            )
        self.sources.setText("".join(items))
        self.sources_title.show()
        self.sources.show()

    def citation(self, n: int) -> CitationView | None:
        return self.citations.get(n) or self.retrieved.get(n)

    def _link(self, href: str) -> None:
        if href.startswith("cite:"):
            try:
                n = int(href[5:])
            except ValueError:
                return
            c = self.citation(n)
            if c is not None:
                emit(self.citation_clicked, c)


class ChatInput(QPlainTextEdit):
    """Enter sends, Shift+Enter adds a line; Ctrl+V of a link into an empty box imports it."""

    submitted = Signal(str)
    url_pasted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatInput")
        self.setPlaceholderText("Ask a question about your documents")
        self.setTabChangesFocus(True)
        self.setFixedHeight(68)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
                return
            if not (event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier):
                text = self.toPlainText().strip()
                if text:
                    emit(self.submitted, text)
                return
        if event.matches(QKeySequence.StandardKey.Paste) and not self.toPlainText().strip():
            text = QGuiApplication.clipboard().text().strip()
            if looks_like_url(text):
                emit(self.url_pasted, text)
                return
        super().keyPressEvent(event)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802 - Qt API
        super().insertFromMimeData(source)


class ChatView(QWidget):
    send = Signal(str)
    stop = Signal()
    citation_clicked = Signal(object)
    url_pasted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.answers: list[AnswerWidget] = []
        self.current: AnswerWidget | None = None
        self._library_empty = True

        self.title = QLabel("New conversation")
        self.title.setObjectName("chatTitle")

        self.messages = QWidget()
        self.messages.setObjectName("messages")
        self.msg_layout = QVBoxLayout(self.messages)
        self.msg_layout.setContentsMargins(16, 12, 16, 12)
        self.msg_layout.setSpacing(10)
        self.msg_layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidget(self.messages)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.verticalScrollBar().rangeChanged.connect(self._stick_to_bottom)
        self._follow = True

        self.empty = QWidget()
        self.empty.setObjectName("emptyState")
        self.empty_title = QLabel("Drop documents here or paste a link")
        self.empty_title.setObjectName("emptyTitle")
        self.empty_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_title.setWordWrap(True)
        self.empty_hint = QLabel()
        self.empty_hint.setObjectName("muted")
        self.empty_hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_hint.setWordWrap(True)
        el = QVBoxLayout(self.empty)
        el.addStretch(1)
        el.addWidget(self.empty_title)
        el.addWidget(self.empty_hint)
        el.addStretch(2)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.scroll)

        self.input = ChatInput()
        self.input.submitted.connect(self._submit)
        self.input.url_pasted.connect(self.url_pasted)
        self.send_button = QPushButton("Send")
        self.send_button.setObjectName("sendButton")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(lambda: self._submit(self.input.toPlainText().strip()))
        self.stop_button = QPushButton("Stop")
        self.stop_button.setObjectName("stopButton")
        self.stop_button.setToolTip("Stop the answer (Esc)")
        self.stop_button.clicked.connect(self.stop)
        self.stop_button.hide()
        hint = QLabel("Enter sends · Shift+Enter adds a line · Esc stops")
        hint.setObjectName("muted")
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addLayout(buttons)
        bottom = QVBoxLayout()
        bottom.setContentsMargins(16, 6, 16, 8)
        bottom.setSpacing(2)
        bottom.addLayout(row)
        bottom.addWidget(hint)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        head = QHBoxLayout()
        head.setContentsMargins(16, 10, 16, 4)
        head.addWidget(self.title)
        layout.addLayout(head)
        layout.addWidget(self.stack, 1)
        layout.addLayout(bottom)
        self.set_library_empty(True)

    # -- state ------------------------------------------------------------------------------------

    def set_library_empty(self, empty: bool) -> None:
        self._library_empty = empty
        if empty:
            self.empty_title.setText("Drop documents here or paste a link")
            self.empty_hint.setText("PDF, Word, Markdown, HTML and text files, or whole folders. "
                                    "Footnote reads them on this computer; answers cite their sources.")
        else:
            self.empty_title.setText("Ask a question about your documents")
            self.empty_hint.setText("Every answer cites its passages: click a [1] marker to read the source.")
        self._update_stack()

    def _update_stack(self) -> None:
        has_messages = self.msg_layout.count() > 1
        self.stack.setCurrentWidget(self.scroll if has_messages else self.empty)

    def set_generating(self, on: bool) -> None:
        self.stop_button.setVisible(on)
        self.send_button.setVisible(not on)

    @property
    def generating(self) -> bool:
        return self.stop_button.isVisible() or (self.current is not None and not self.current.finished)

    def clear(self, title: str = "New conversation") -> None:
        while self.msg_layout.count() > 1:
            item = self.msg_layout.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.setParent(None)
                w.deleteLater()
        self.answers.clear()
        self.current = None
        self.title.setText(title)
        self._update_stack()

    def _add(self, w: QWidget, align_right: bool = False) -> None:
        self._follow = True
        if align_right:
            wrap = QHBoxLayout()
            wrap.addStretch(1)
            wrap.addWidget(w, 4)
            holder = QWidget()
            holder.setLayout(wrap)
            wrap.setContentsMargins(60, 0, 0, 0)
            self.msg_layout.insertWidget(self.msg_layout.count() - 1, holder)
        else:
            self.msg_layout.insertWidget(self.msg_layout.count() - 1, w)
        self._update_stack()

    def add_user(self, text: str) -> UserBubble:
        bubble = UserBubble(text)
        self._add(bubble, align_right=True)
        return bubble

    def add_answer(self) -> AnswerWidget:
        w = AnswerWidget()
        w.citation_clicked.connect(self.citation_clicked)
        self.answers.append(w)
        self.current = w
        self._add(w)
        return w

    def add_history(self, role: str, text: str, citations: list[CitationView]) -> None:
        if role == "user":
            self.add_user(text)
        else:
            w = self.add_answer()
            w.finish(AnswerResult(text, citations))
            self.current = None

    def _submit(self, text: str) -> None:
        if not text or self.generating:
            return
        self.input.clear()
        emit(self.send, text)

    def _stick_to_bottom(self, _min: int, maximum: int) -> None:
        if self._follow:
            self.scroll.verticalScrollBar().setValue(maximum)


class ConfirmDelete:
    """Deleting a conversation cannot be undone: a decision, so a dialog. Tests patch ``ask``."""

    @classmethod
    def ask(cls, parent: QWidget, title: str) -> bool:
        answer = QMessageBox.question(
            parent, "Delete conversation", f"Delete the conversation “{title}”?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Yes


class RenameDialog:
    @classmethod
    def ask(cls, parent: QWidget, title: str) -> str | None:
        text, ok = QInputDialog.getText(parent, "Rename conversation", "Name:", text=title)
        return text.strip() if ok and text.strip() else None


class ConversationList(QWidget):
    selected = Signal(str)  # conversation id
    new_requested = Signal()
    rename_requested = Signal(str, str)
    delete_requested = Signal(str)

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
        return it.data(Qt.ItemDataRole.UserRole) if it is not None else None

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
        menu.addAction("Delete", self.delete_current)
        menu.exec(self.list.viewport().mapToGlobal(pos))
