"""One answer in the chat: the status line while waiting, the streamed text, then the finished
answer drawn from its ``done`` record.

The finished answer is drawn honestly: sentences no passage supports are marked and never cited,
an abstention is an info block ("Not found in your documents") with the closest passages to read
instead, and an answer the engine stopped says why. Each answer re-renders only itself, at most
every ``RENDER_MS`` while streaming.
"""

from __future__ import annotations

import html
import logging

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QColor, QCursor, QGuiApplication, QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QSizePolicy,
    QToolButton,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from desktop.services import ABSTAIN_TEXT, AnswerResult, CitationView
from desktop.workers import emit
from ui.answer_render import UNSUPPORTED_HREF, UNSUPPORTED_TIP, Colours, plain_answer, render_answer
from ui.answer_render import plain_snippet as snippet

log = logging.getLogger(__name__)

RENDER_MS = 50
ABSTAIN_TITLE = "Not found in your documents"
REFUSED_TITLE = "Not answered"
#: Why an abstention abstained, in the person's terms (``Answer.abstain_reason``).
ABSTAIN_WHY = {
    "relevance": "Nothing in your library is close to this question; importing a document about it may help.",
    "no_passages": "The selected documents have no text to answer from.",
    "answerability": "Your documents touch on this, but none of the passages found states the answer.",
    "not_found": "Your documents touch on this, but none of the passages found states the answer.",
    "restates_question": "The model only repeated the question, so no answer is shown.",
    "nothing_supported": "The model's answer was not backed by the passages found, so it is not shown.",
    "unsupported": "The model was unsure, and part of its answer was not backed by the passages found, "
                   "so it is not shown.",
    "unsure": "The model had to guess at its answer, and none of the passages found clearly states it, "
              "so it is not shown.",
}
STOP_NOTES = {
    "repetition": "Stopped: the model started repeating itself",
    "length": "Stopped: the answer reached its length limit",
    "user": "Stopped.",
}


def source_line(c: CitationView) -> str:
    where = []
    if c.page:
        where.append(f"p. {c.page}")
    if c.section and c.section.strip() != c.title.strip():
        where.append(c.section)
    return " · ".join(where)


class AnswerWidget(QFrame):
    """One answer: a status line while waiting, the streamed text, then the finished answer drawn
    from the ``done`` record (sentences marked, markers linked), its notes and its sources."""

    citation_clicked = Signal(object)  # CitationView
    copied = Signal(str)  # the text put on the clipboard

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("answer")
        self.text = ""
        self.result: AnswerResult | None = None
        self.citations: dict[int, CitationView] = {}
        self.suggestions: list[CitationView] = []
        self.retrieved: dict[int, CitationView] = {}
        self.finished = False
        self._status_pinned = False
        self.scope_line = QLabel()
        self.scope_line.setObjectName("muted")
        self.scope_line.setWordWrap(True)
        self.scope_line.hide()
        self.status = QLabel("Searching your documents…")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setFixedHeight(4)
        self.busy.setTextVisible(False)
        self.label = self._rich_label("answerText")
        self.label.linkHovered.connect(self._hover)
        self.label.hide()

        # An abstention is not an answer: an info block with the passages closest to the question.
        self.abstain_box = QFrame()
        self.abstain_box.setObjectName("abstention")
        self.abstain_title = QLabel(ABSTAIN_TITLE)
        self.abstain_title.setObjectName("abstainTitle")
        bold = self.abstain_title.font()
        bold.setBold(True)
        self.abstain_title.setFont(bold)
        self.abstain_text = QLabel()
        self.abstain_text.setWordWrap(True)
        self.abstain_text.setTextFormat(Qt.TextFormat.PlainText)
        self.abstain_why = QLabel()
        self.abstain_why.setObjectName("abstainWhy")
        self.abstain_why.setWordWrap(True)
        self.abstain_why.setTextFormat(Qt.TextFormat.PlainText)
        self.suggestions_title = QLabel("You may want to read:")
        self.suggestions_label = self._rich_label("suggestions")
        ab = QVBoxLayout(self.abstain_box)
        ab.setContentsMargins(10, 8, 10, 8)
        ab.setSpacing(4)
        for line in (self.abstain_title, self.abstain_why, self.abstain_text, self.suggestions_title,
                     self.suggestions_label):
            ab.addWidget(line)
        self.abstain_box.hide()

        self.note = QLabel()
        self.note.setObjectName("answerNote")
        self.note.setWordWrap(True)
        self.note.hide()
        self.sources_title = QLabel("Sources")
        self.sources_title.setObjectName("sourcesTitle")
        self.sources = self._rich_label("sources")
        self.sources_title.hide()
        self.sources.hide()
        self.meta = QLabel()
        self.meta.setObjectName("muted")
        self.meta.hide()
        self.copy_button = QToolButton()
        self.copy_button.setObjectName("copyAnswer")
        self.copy_button.setText("Copy")
        self.copy_button.setAutoRaise(True)
        self.copy_button.setToolTip("Copy the answer and its sources")
        self.copy_button.clicked.connect(self.copy)
        self.copy_button.hide()
        footer = QHBoxLayout()
        footer.setContentsMargins(0, 0, 0, 0)
        footer.addWidget(self.meta, 1)
        footer.addWidget(self.copy_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 8, 12, 10)
        layout.setSpacing(6)
        parts: tuple[QWidget, ...] = (self.scope_line, self.status, self.busy, self.label, self.abstain_box,
                                      self.note, self.sources_title, self.sources)
        for part in parts:
            layout.addWidget(part)
        layout.addLayout(footer)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(RENDER_MS)
        self._timer.timeout.connect(self._render)

    def _rich_label(self, name: str) -> QLabel:
        label = QLabel()
        label.setObjectName(name)
        label.setTextFormat(Qt.TextFormat.RichText)
        label.setWordWrap(True)
        label.setOpenExternalLinks(False)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        label.linkActivated.connect(self._link)
        return label

    def _colours(self) -> Colours:
        pal = self.palette()
        dark = pal.color(QPalette.ColorRole.Base).lightness() < 128
        text, base = pal.color(QPalette.ColorRole.Text), pal.color(QPalette.ColorRole.Base)
        muted = QColor((text.red() + base.red()) // 2, (text.green() + base.green()) // 2,
                       (text.blue() + base.blue()) // 2)
        return Colours(muted=muted.name(), tint="#4a3d12" if dark else "#fdf3d7",
                       warn="#e0b050" if dark else "#a8650c")

    # -- streaming ------------------------------------------------------------------------------

    def set_scope(self, titles: list[str]) -> None:
        self.scope_line.setText("Asked about: " + ", ".join(titles) if titles else "")
        self.scope_line.setVisible(bool(titles))

    def set_retrieved(self, passages: list[CitationView]) -> None:
        self.retrieved = {p.n: p for p in passages}
        if not self.text and not self._status_pinned:
            self.status.setText("Writing the answer…" if passages else "Thinking…")

    def set_status(self, text: str) -> None:
        """A line from the engine ("a summary is on its way…"), shown until tokens arrive."""
        if not text or self.finished:
            return
        self._status_pinned = True
        self.status.setText(text)
        if not self.text:
            self.status.show()

    def append(self, piece: str) -> None:
        self.text += piece
        if not self._timer.isActive():
            self._timer.start()

    def _render(self) -> None:
        if self.finished:
            return
        if self.text:
            self.status.hide()
            self.busy.hide()
            self.label.show()
        # Streaming: markers may still be corrected by the grounding check, so none is a link yet.
        self.label.setText(render_answer(self.text, (), None, self._colours()) if self.text else "")

    # -- finished -------------------------------------------------------------------------------

    def finish(self, result: AnswerResult) -> None:
        self.finished = True
        self.result = result
        self._timer.stop()
        self.status.hide()
        self.busy.hide()
        self.text = result.text or ("" if result.abstained else self.text)
        # Only what the answer cited: a retrieved passage it did not cite is not offered anywhere.
        self.citations = {c.n: c for c in result.citations}
        self.retrieved = {}
        self.suggestions = list(result.suggestions)
        if result.abstained or result.refused:
            self._show_abstention(result)
        elif self.text:
            self.label.setText(render_answer(self.text, result.sentences, set(self.citations), self._colours()))
            self.label.show()
        else:
            self.label.hide()
        self._show_notes(result)
        self._show_sources()
        if result.model:
            self.meta.setText(f"Answered by {result.model}")
            self.meta.show()
        self.copy_button.setVisible(bool(self.copy_text()))

    def copy_text(self) -> str:
        """What Copy puts on the clipboard: the answer as shown, and its sources."""
        result = self.result
        if result is None or not self.finished:
            return ""
        if result.abstained or result.refused:
            return result.text.strip()
        sources = [(n, self.citations[n].title or self.citations[n].source) for n in sorted(self.citations)]
        return plain_answer(self.text, result.sentences, set(self.citations), sources)

    def copy(self) -> None:
        text = self.copy_text()
        if text:
            QGuiApplication.clipboard().setText(text)
            emit(self.copied, text)

    def fail(self, reason: str) -> None:
        self.finished = True
        self._timer.stop()
        self.busy.hide()
        self.label.hide()
        self.status.setObjectName("errorText")
        self.status.setText(reason)
        self.status.show()
        self.style().unpolish(self.status)
        self.style().polish(self.status)

    def _show_abstention(self, result: AnswerResult) -> None:
        self.label.hide()
        pal = self.palette()
        dark = pal.color(QPalette.ColorRole.Base).lightness() < 128
        self.abstain_box.setStyleSheet(
            "QFrame#abstention { border-radius: 6px; "
            + ("background: #1f3147; border: 1px solid #35557a; }" if dark
               else "background: #e8f1fb; border: 1px solid #b9d3ee; }"))
        self.abstain_title.setText(REFUSED_TITLE if result.refused and not result.abstained else ABSTAIN_TITLE)
        body = result.text.strip()
        self.abstain_text.setText(body)
        # The engine's standard sentence says what the title already says; the model's own words do not.
        self.abstain_text.setVisible(bool(body) and body != ABSTAIN_TEXT)
        why = ABSTAIN_WHY.get(result.abstain_reason, "") if result.abstained else ""
        self.abstain_why.setText(why)
        self.abstain_why.setVisible(bool(why))
        items = []
        for i, c in enumerate(self.suggestions):
            where = source_line(c)
            extra = f" <span>— {html.escape(where)}</span>" if where else ""
            items.append(f"<p style='margin:0 0 4px 0'>• <a href='suggest:{i}'>{html.escape(c.title or c.source)}</a>"
                         f"{extra}<br><span style='opacity:0.8'>{html.escape(snippet(c.text))}</span></p>")
        self.suggestions_label.setText("".join(items))
        self.suggestions_title.setVisible(bool(items))
        self.suggestions_label.setVisible(bool(items))
        self.abstain_box.show()

    def _show_notes(self, result: AnswerResult) -> None:
        notes = []
        unsupported = len(result.unsupported)
        if unsupported and not result.abstained:
            notes.append(f"{unsupported} sentence{'s are' if unsupported != 1 else ' is'} not supported by any "
                         "passage (marked “unsupported”)")
        reason = result.stop_reason or ("user" if result.stopped else None)
        if reason in STOP_NOTES:
            notes.append(STOP_NOTES[reason] if self.text or reason != "user" else "Stopped before the answer began.")
        self.note.setText(" · ".join(notes))
        self.note.setVisible(bool(notes))
        warn = self._colours().warn
        self.note.setStyleSheet(f"QLabel#answerNote {{ color: {warn}; }}" if reason == "repetition" or unsupported
                                else "")

    def _show_sources(self) -> None:
        if not self.citations:
            self.sources_title.hide()
            self.sources.hide()
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
        return self.citations.get(n) if self.finished else self.citations.get(n) or self.retrieved.get(n)

    def _hover(self, href: str) -> None:
        if href.startswith(UNSUPPORTED_HREF):
            QToolTip.showText(QCursor.pos(), UNSUPPORTED_TIP, self.label)
        else:
            QToolTip.hideText()

    def _link(self, href: str) -> None:
        target: CitationView | None = None
        if href.startswith("cite:") and href[5:].isdigit():
            target = self.citation(int(href[5:]))
        elif href.startswith("suggest:") and href[8:].isdigit():
            i = int(href[8:])
            target = self.suggestions[i] if i < len(self.suggestions) else None
        elif href.startswith(UNSUPPORTED_HREF):
            QToolTip.showText(QCursor.pos(), UNSUPPORTED_TIP, self.label)
        if target is not None:
            emit(self.citation_clicked, target)
