"""Shows the passage an answer cites, with where it came from, and opens the original.

The passage shown is the snapshot the answer was built from, so it stays checkable after the
document changes; when the library still has the chunk, its current text replaces the snapshot.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import re
from pathlib import Path
from urllib.parse import quote

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QPalette, QTextCharFormat, QTextCursor
from PySide6.QtWidgets import (
    QButtonGroup,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services import CitationView, DocumentTextView, Services, SourceView
from desktop.workers import emit
from ui import messages
from ui.page_view import PdfPageView
from ui.safe_text import SafeTextBrowser

log = logging.getLogger(__name__)


def original_url(source: str, page: int | None = None, text: str = "") -> QUrl:
    """A file opens in the desktop's default app; a web page in the browser, scrolled to the
    passage where the browser supports text fragments (``#:~:text=``). PDF viewers disagree on
    page fragments for local files, so the page is told to the user instead."""
    if source.lower().startswith(("http://", "https://")):
        url = QUrl(source)
        words = " ".join(text.split()[:6])
        if words and not url.hasFragment():
            url.setFragment(":~:text=" + quote(words, safe=""), QUrl.ParsingMode.StrictMode)
        return url
    return QUrl.fromLocalFile(str(Path(source)))


def open_url(url: QUrl) -> bool:
    """One place that leaves the app, so tests can patch it."""
    return QDesktopServices.openUrl(url)


def utf16_len(text: str) -> int:
    """Qt counts positions in UTF-16 units: a character outside the BMP takes two."""
    return len(text.encode("utf-16-le")) // 2


class SourceViewer(QWidget):
    """The cited passage: a PDF's page with the passage marked, or the whole document's text
    scrolled to the highlighted passage (given ``services``); without them, the passage alone."""

    closed = Signal()
    source_shown = Signal(object)  # SourceView, once the page or the whole text is on screen

    def __init__(self, parent: QWidget | None = None, *, services: Services | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sourceViewer")
        self.citation: CitationView | None = None
        self.services = services
        self.source: SourceView | None = None
        self._passage: tuple[int, int] | None = None  # the highlighted range in ``text``, Qt positions
        self._token = 0
        head = QLabel("Source")
        head.setObjectName("paneTitle")
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Close the source viewer")
        close.setAccessibleName("Close the source viewer")
        close.clicked.connect(self._close)
        self.title = QLabel()
        self.title.setObjectName("sourceTitle")
        self.title.setWordWrap(True)
        self.meta = QLabel()
        self.meta.setObjectName("muted")
        self.meta.setWordWrap(True)
        self.location = QLabel()
        self.location.setObjectName("muted")
        self.location.setWordWrap(True)
        self.location.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = SafeTextBrowser()  # a passage's own <img src=…> is never fetched
        self.text.setObjectName("passage")
        self.text.setAccessibleName("Source text")
        self.text.setOpenLinks(False)
        self.note = QLabel()
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        self.note.hide()
        self.live_link = QLabel()
        self.live_link.setObjectName("liveLink")
        self.live_link.setOpenExternalLinks(False)
        self.live_link.linkActivated.connect(lambda href: open_url(QUrl(href)))
        self.live_link.hide()
        self.page_view = PdfPageView(services)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.text)
        self.stack.addWidget(self.page_view)
        self.page_mode = QToolButton()
        self.page_mode.setText("Page")
        self.page_mode.setToolTip("The PDF page, with the passage marked")
        self.page_mode.setAccessibleName("Show the page")
        self.text_mode = QToolButton()
        self.text_mode.setText("Text")
        self.text_mode.setToolTip("The document's text, scrolled to the passage")
        self.text_mode.setAccessibleName("Show the text")
        self._modes = QButtonGroup(self)
        for i, b in enumerate((self.text_mode, self.page_mode)):
            b.setCheckable(True)
            b.setAutoRaise(True)
            self._modes.addButton(b, i)
        self._modes.idClicked.connect(self.stack.setCurrentIndex)
        self.text_mode.setChecked(True)
        self.page_mode.hide()
        self.text_mode.hide()
        self.open_button = QPushButton("Open original")
        self.open_button.setObjectName("openOriginal")
        self.open_button.clicked.connect(self.open_original)
        top = QHBoxLayout()
        top.addWidget(head)
        top.addStretch(1)
        top.addWidget(close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.text_mode)
        buttons.addWidget(self.page_mode)
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.title)
        layout.addWidget(self.meta)
        layout.addWidget(self.location)
        layout.addWidget(self.live_link)
        layout.addWidget(self.note)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)

    def show_citation(self, c: CitationView) -> None:
        self.citation = c
        self.title.setText(f"[{c.n}] {c.title or c.source}" if c.n else (c.title or c.source))
        meta = []
        if c.section:
            meta.append(f"Section: {c.section}")
        if c.page:
            meta.append(f"Page {c.page}")
        self.meta.setText(" · ".join(meta))
        self.meta.setVisible(bool(meta))
        self.location.setText(c.source)
        pal = self.palette()
        dark = pal.color(QPalette.ColorRole.Base).lightness() < 128
        bg = "#5a4a12" if dark else "#fff1a8"
        fg = pal.color(QPalette.ColorRole.Text).name()
        def para(text: str) -> str:
            # Markdown headings in a passage read as bold lines, not as "# Title".
            text = html.escape(text)
            text = re.sub(r"(?m)^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", r"<b>\1</b>", text)
            return text.replace("\n\n", "<br><br>").replace("\n", " ")

        body = para(c.text)
        self.text.setHtml(
            f"<div style='color:{fg}; line-height:140%'>{para(c.before)}"
            f"<a name='passage'></a><span style='background-color:{bg}'>{body}</span>{para(c.after)}</div>"
        )
        self.text.scrollToAnchor("passage")
        self.open_button.setEnabled(bool(c.source))
        self._passage = None
        self.show()
        self._request_source(c)

    def update_passage(self, fresh: CitationView | None) -> None:
        """The library's current copy of the chunk, if it still has it."""
        if fresh is None or self.citation is None or fresh.chunk_id != self.citation.chunk_id:
            return
        if self.services is not None:
            return  # the source view (asked for by ``show_citation``) brings the current copy and more
        if fresh.text and (fresh.text, fresh.before, fresh.after) != (
                self.citation.text, self.citation.before, self.citation.after):
            self.show_citation(dataclasses.replace(fresh, n=self.citation.n))

    def clear(self) -> None:
        """Empty and hidden: nothing on screen points at an answer that is gone."""
        self.citation = None
        self.source = None
        self.title.clear()
        self.meta.clear()
        self.location.clear()
        self.text.clear()
        self.hide()

    def displayed_text(self) -> str:
        return self.text.toPlainText()

    # -- the page or the whole text ------------------------------------------------------------------

    def _request_source(self, c: CitationView) -> None:
        self._token += 1
        token = self._token
        self.source = None
        self.note.hide()
        self.live_link.hide()
        self._set_mode(page=False, available=False)
        if self.services is None or not self.services.is_open or not (c.chunk_id or c.document_id):
            return

        def done(view: SourceView) -> None:
            if token == self._token and self.citation is not None:
                self.show_source(view)

        def failed(message: str) -> None:
            if token == self._token:
                self.note.setText(message)
                self.note.show()

        self.page_view.set_citation(c.page or 0, None, c.text)
        self.services.source_view(c, done, failed, fit_width=self.page_view.fit_width())

    def show_source(self, view: SourceView) -> None:
        """Draw a source view: the page (PDFs) in front, the whole text behind "Text"."""
        self.source = view
        c = view.citation
        if view.text is not None:
            self.show_document_text(view.text)
        if view.live_url:
            href = html.escape(view.live_url, quote=True)
            self.live_link.setText(f"Live page: <a href='{href}'>{html.escape(view.live_url)}</a>")
            self.live_link.setToolTip("The page as it is now, in the browser (the text here is the stored copy)")
            self.live_link.show()
        notes = [view.note] if view.note else []
        if view.text is not None and view.text.clipped:
            notes.append("A long document: the text shown is the part around the passage.")
        if notes:
            self.note.setText(" ".join(notes))
            self.note.show()
        if view.page is not None:
            rng = view.page.char_range if view.page.page == (c.page or view.page.page) else None
            self.page_view.set_citation(view.page.page, rng, c.text)
            self.page_view.show_page(view.page)
        self._set_mode(page=view.page is not None, available=view.page is not None)
        emit(self.source_shown, view)

    def _set_mode(self, *, page: bool, available: bool) -> None:
        self.page_mode.setVisible(available)
        self.text_mode.setVisible(available)
        (self.page_mode if page else self.text_mode).setChecked(True)
        self.stack.setCurrentIndex(1 if page else 0)

    def show_document_text(self, dt: DocumentTextView) -> None:
        """The whole stored text, plain (offsets stay exact), the passage marked and scrolled to."""
        self.text.setPlainText(dt.text.replace("\r\n", " \n").replace("\r", "\n"))
        self._passage = None
        if dt.start < 0:
            return
        a, b = utf16_len(dt.text[: dt.start]), utf16_len(dt.text[: dt.end])
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(a)
        cursor.setPosition(b, QTextCursor.MoveMode.KeepAnchor)
        fmt = QTextCharFormat()
        dark = self.palette().color(QPalette.ColorRole.Base).lightness() < 128
        fmt.setBackground(QColor("#5a4a12" if dark else "#fff1a8"))
        cursor.mergeCharFormat(fmt)
        self._passage = (a, b)
        self._scroll_to_passage()
        QTimer.singleShot(0, self._scroll_to_passage)  # again once the pane has its final size

    def _scroll_to_passage(self) -> None:
        if self._passage is None:
            return
        a, _ = self._passage
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(a)
        bar = self.text.verticalScrollBar()
        # The passage's first line a quarter down the pane, so the text before it shows too.
        top = self.text.cursorRect(cursor).top() + bar.value()
        bar.setValue(max(0, top - self.text.viewport().height() // 4))

    def highlighted_text(self) -> str:
        """The marked passage as the text pane holds it."""
        if self._passage is None:
            return ""
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(self._passage[0])
        cursor.setPosition(self._passage[1], QTextCursor.MoveMode.KeepAnchor)
        return cursor.selectedText().replace("\u2029", "\n")

    def passage_visible(self) -> bool:
        """Whether the start of the marked passage is inside the text pane's visible area."""
        if self._passage is None:
            return False
        cursor = QTextCursor(self.text.document())
        cursor.setPosition(self._passage[0])
        return self.text.viewport().rect().intersects(self.text.cursorRect(cursor))

    def open_original(self) -> None:
        c = self.citation
        if c is None:
            return
        url = original_url(c.source, c.page, c.text)
        if open_url(url):
            where = f" — see page {c.page}" if c.page and not url.scheme().startswith("http") else ""
            messages.info(f"Opened {c.title or c.source}{where}")
        else:
            messages.error(f"{c.source}: no application could open it")

    def _close(self) -> None:
        self.hide()
        emit(self.closed)
