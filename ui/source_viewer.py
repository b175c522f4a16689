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

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services import CitationView
from desktop.workers import emit
from ui import messages

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


class SourceViewer(QWidget):
    closed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("sourceViewer")
        self.citation: CitationView | None = None
        head = QLabel("Source")
        head.setObjectName("paneTitle")
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Close the source viewer")
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
        self.text = QTextBrowser()
        self.text.setObjectName("passage")
        self.text.setOpenLinks(False)
        self.open_button = QPushButton("Open original")
        self.open_button.setObjectName("openOriginal")
        self.open_button.clicked.connect(self.open_original)
        top = QHBoxLayout()
        top.addWidget(head)
        top.addStretch(1)
        top.addWidget(close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.title)
        layout.addWidget(self.meta)
        layout.addWidget(self.location)
        layout.addWidget(self.text, 1)
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
        self.show()

    def update_passage(self, fresh: CitationView | None) -> None:
        """The library's current copy of the chunk, if it still has it."""
        if fresh is None or self.citation is None or fresh.chunk_id != self.citation.chunk_id:
            return
        if fresh.text and (fresh.text, fresh.before, fresh.after) != (
                self.citation.text, self.citation.before, self.citation.after):
            self.show_citation(dataclasses.replace(fresh, n=self.citation.n))

    def displayed_text(self) -> str:
        return self.text.toPlainText()

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
