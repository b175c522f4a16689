"""Icons drawn at run time from the palette, so they follow light and dark themes without assets."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QPainter, QPainterPath, QPixmap

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"

# kind -> (badge text, colour). Colours are mid-tones that read on light and dark backgrounds.
_KINDS = {
    "pdf": ("PDF", "#d64545"),
    "docx": ("DOC", "#3b6fd4"),
    "markdown": ("MD", "#7a5cc7"),
    "html": ("HTM", "#d9822b"),
    "web": ("WEB", "#1f9d8a"),
    "text": ("TXT", "#6b7785"),
}


def kind_of(kind: str, source: str) -> str:
    low = source.lower()
    if low.startswith(("http://", "https://")):
        return "web"
    if kind in _KINDS:
        return kind
    # Failed items have no kind recorded; the file name still tells.
    for suffixes, k in ((".pdf",), "pdf"), ((".docx", ".doc"), "docx"), ((".md", ".markdown"), "markdown"), \
            ((".html", ".htm", ".xhtml"), "html"):
        if low.endswith(suffixes):
            return k
    return "text"


@functools.lru_cache(maxsize=32)
def kind_icon(kind: str, size: int = 32) -> QIcon:
    """A small document badge with the type written on it (PDF, DOC, WEB…)."""
    label, colour = _KINDS.get(kind, _KINDS["text"])
    pm = QPixmap(size, size)
    pm.fill(Qt.GlobalColor.transparent)
    p = QPainter(pm)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    w, h = size * 0.78, size * 0.94
    x, y = (size - w) / 2, (size - h) / 2
    fold = w * 0.3
    path = QPainterPath()
    path.moveTo(x, y)
    path.lineTo(x + w - fold, y)
    path.lineTo(x + w, y + fold)
    path.lineTo(x + w, y + h)
    path.lineTo(x, y + h)
    path.closeSubpath()
    p.fillPath(path, QColor(colour))
    corner = QPainterPath()
    corner.moveTo(x + w - fold, y)
    corner.lineTo(x + w - fold, y + fold)
    corner.lineTo(x + w, y + fold)
    corner.closeSubpath()
    p.fillPath(corner, QColor(255, 255, 255, 110))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(max(6, int(size * 0.26)))
    p.setFont(font)
    p.setPen(QColor("white"))
    p.drawText(QRectF(x, y + h * 0.35, w, h * 0.6), Qt.AlignmentFlag.AlignCenter, label)
    p.end()
    return QIcon(pm)


@functools.lru_cache(maxsize=1)
def app_icon() -> QIcon:
    icon = QIcon()
    for name in ("footnote.svg", "footnote.png"):
        path = ASSETS / name
        if path.exists():
            icon.addFile(str(path))
    if icon.isNull():
        log.warning("app icon missing dir=%s", ASSETS)
    return icon
