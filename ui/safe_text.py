"""A text browser that never fetches: document text is untrusted, so a stray ``<img src=…>``
must not reach the network or read a local file.

QTextBrowser resolves every ``src`` through ``loadResource``; this one answers only ``data:``
and the app's own ``qrc:`` resources, so nothing an imported document says is ever loaded.
Links are not followed either: the widget that shows the text decides what a click means.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QTextBrowser, QWidget

log = logging.getLogger(__name__)

ALLOWED_SCHEMES = ("data", "qrc")


class SafeTextBrowser(QTextBrowser):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.refused: list[str] = []  # what the text asked to load, for the log and tests

    def loadResource(self, type: int, name: QUrl | str, /) -> Any:  # noqa: A002, N802 - Qt API
        url = QUrl(name) if isinstance(name, str) else name
        if url.scheme() in ALLOWED_SCHEMES:
            return super().loadResource(type, url)
        self.refused.append(url.toString())
        log.info("resource refused scheme=%s", url.scheme() or "relative")
        return None
