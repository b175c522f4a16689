"""The chat: the messages, the question box, and the scope chip above it.

Each message is its own widget (``ui.answer_widget``), so a streaming answer re-renders only
itself: re-laying out a whole conversation per token is what makes chat windows stutter. Citation
markers ``[n]`` become links with the ``cite:`` scheme; clicking one asks the window to show that
passage in the source viewer.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QGuiApplication, QKeyEvent, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services import AnswerResult
from desktop.workers import emit
from ui.answer_widget import AnswerWidget
from ui.import_panel import looks_like_url

log = logging.getLogger(__name__)

def _keys(key: QKeySequence.StandardKey | str) -> str:
    return QKeySequence(key).toString(QKeySequence.SequenceFormat.NativeText)


def empty_library_hint() -> str:
    """How to add documents, and the keys that matter, for a library with nothing in it yet."""
    return (
        "Three ways to add documents:\n"
        "• drop files or whole folders anywhere on this window\n"
        f"• Add files… below or in the File menu ({_keys(QKeySequence.StandardKey.Open)})\n"
        f"• paste a link into the link field ({_keys('Ctrl+L')}) or into the question box\n\n"
        "PDF, Word, Markdown, HTML and text files. Footnote reads them on this computer; answers cite their "
        "sources.\n\n"
        f"Keys: Enter asks · {_keys('Ctrl+N')} new conversation · Esc stops an answer · "
        f"{_keys('Ctrl+Shift+C')} copies it · {_keys('Ctrl+,')} settings"
    )


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


class ChatInput(QPlainTextEdit):
    """Enter sends, Shift+Enter adds a line; Ctrl+V of a link into an empty box imports it."""

    submitted = Signal(str)
    url_pasted = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("chatInput")
        self.setAccessibleName("Question")
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


class ScopeChip(QFrame):
    """"Asking about: report.pdf, notes.md ×" above the question box while the chat is scoped."""

    cleared = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("scopeChip")
        self.label = QLabel()
        self.label.setObjectName("scopeText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.clear_button = QToolButton()
        self.clear_button.setObjectName("clearScope")
        self.clear_button.setText("×")
        self.clear_button.setAutoRaise(True)
        self.clear_button.setToolTip("Ask about the whole library again")
        self.clear_button.setAccessibleName("Ask about the whole library again")
        self.clear_button.clicked.connect(self.cleared)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 2, 2, 2)
        row.setSpacing(4)
        row.addWidget(self.label, 1)
        row.addWidget(self.clear_button)
        pal = self.palette()
        accent = pal.color(QPalette.ColorRole.Highlight)
        self.setStyleSheet(f"QFrame#scopeChip {{ border: 1px solid {accent.name()}; border-radius: 10px; "
                           f"background: rgba({accent.red()}, {accent.green()}, {accent.blue()}, 30); }}")
        self.hide()

    def set_titles(self, titles: list[str]) -> None:
        shown = ", ".join(titles[:3]) + (f" and {len(titles) - 3} more" if len(titles) > 3 else "")
        self.label.setText(f"Asking about: {shown}")
        self.label.setToolTip("\n".join(titles))
        self.setVisible(bool(titles))


class ChatView(QWidget):
    send = Signal(str)
    stop = Signal()
    citation_clicked = Signal(object)
    scope_changed = Signal(list)  # the document ids questions are limited to; [] is the whole library
    url_pasted = Signal(str)
    answer_copied = Signal(str)  # an answer's text, just put on the clipboard
    add_files = Signal()  # the empty library's "Add files…" button

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.answers: list[AnswerWidget] = []
        self.current: AnswerWidget | None = None
        self._library_empty = True
        self.scope: list[tuple[str, str]] = []  # (document id, title)

        self.title = QLabel("New conversation")
        self.title.setObjectName("chatTitle")

        self.messages = QWidget()
        self.messages.setObjectName("messages")
        self.msg_layout = QVBoxLayout(self.messages)
        self.msg_layout.setContentsMargins(16, 12, 16, 12)
        self.msg_layout.setSpacing(10)
        self.msg_layout.addStretch(1)
        self.scroll_area = QScrollArea()
        self.scroll_area.setWidget(self.messages)
        self.scroll_area.setAccessibleName("Conversation messages")
        self.scroll_area.setWidgetResizable(True)
        self.scroll_area.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll_area.verticalScrollBar().rangeChanged.connect(self._stick_to_bottom)
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
        self.empty_add = QPushButton("Add files…")
        self.empty_add.setObjectName("emptyAddFiles")
        self.empty_add.clicked.connect(self.add_files)
        self.empty_add.hide()
        add_row = QHBoxLayout()
        add_row.addStretch(1)
        add_row.addWidget(self.empty_add)
        add_row.addStretch(1)
        el = QVBoxLayout(self.empty)
        el.addStretch(1)
        el.addWidget(self.empty_title)
        el.addWidget(self.empty_hint)
        el.addLayout(add_row)
        el.addStretch(2)

        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.scroll_area)

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
        self.scope_chip = ScopeChip()
        self.scope_chip.cleared.connect(self.clear_scope)
        chip_row = QHBoxLayout()
        chip_row.addWidget(self.scope_chip)
        chip_row.addStretch(1)
        bottom.addLayout(chip_row)
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
        self.set_library_loading()

    # -- state ------------------------------------------------------------------------------------

    def set_library_loading(self, text: str = "Opening the library…") -> None:
        """Before the library's list is known: neither "empty" nor "ask" would be true yet."""
        self.empty_title.setText(text)
        self.empty_hint.setText("")
        self.empty_add.hide()
        self._update_stack()

    def set_library_empty(self, empty: bool) -> None:
        self._library_empty = empty
        self.empty_add.setVisible(empty)
        if empty:
            self.empty_title.setText("Drop documents here or paste a link")
            self.empty_hint.setText(empty_library_hint())
        else:
            self.empty_title.setText("Ask a question about your documents")
            self.empty_hint.setText("Every answer cites its passages: click a [1] marker to read the source.")
        self._update_stack()

    def _update_stack(self) -> None:
        has_messages = self.msg_layout.count() > 1
        self.stack.setCurrentWidget(self.scroll_area if has_messages else self.empty)

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
        w.copied.connect(self.answer_copied)
        self.answers.append(w)
        self.current = w
        self._add(w)
        return w

    def copy_last_answer(self) -> bool:
        """Copy the newest finished answer that has text; False when there is none."""
        for w in reversed(self.answers):
            if w.copy_text():
                w.copy()
                return True
        return False

    def add_history(self, role: str, text: str, result: AnswerResult | None = None) -> None:
        if role == "user":
            self.add_user(text)
        else:
            w = self.add_answer()
            w.finish(result or AnswerResult(text, []))
            self.current = None

    # -- scope ----------------------------------------------------------------------------------

    def set_scope(self, docs: list[tuple[str, str]]) -> None:
        """Limit the next questions to these documents ((id, title) pairs); [] for the whole library."""
        docs = [(i, t) for i, t in docs if i]
        if docs == self.scope:
            return
        self.scope = docs
        self.scope_chip.set_titles([t for _i, t in docs])
        self.input.setPlaceholderText("Ask about the selected documents" if docs
                                      else "Ask a question about your documents")
        emit(self.scope_changed, self.scope_ids())

    def clear_scope(self) -> None:
        self.set_scope([])
        self.input.setFocus()

    def scope_ids(self) -> list[str]:
        return [i for i, _t in self.scope]

    def scope_titles(self) -> list[str]:
        return [t for _i, t in self.scope]

    def _submit(self, text: str) -> None:
        if not text or self.generating:
            return
        self.input.clear()
        emit(self.send, text)

    def _stick_to_bottom(self, _min: int, maximum: int) -> None:
        if self._follow:
            self.scroll_area.verticalScrollBar().setValue(maximum)
