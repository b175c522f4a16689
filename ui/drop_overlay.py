"""A translucent sheet over the window while files are dragged over it, saying where they go.

The overlay never accepts the drop itself: it is transparent to mouse events and the main window
handles drag and drop, so dropping works anywhere, including over the chat and the library.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPaintEvent, QPalette, QPen
from PySide6.QtWidgets import QWidget


class DropOverlay(QWidget):
    def __init__(self, parent: QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("dropOverlay")
        self.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.text = "Drop to add to your library"
        self.detail = ""
        self.hint = "imported in the background; keep chatting"
        self.hide()
        self._host = parent
        parent.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is self._host and event.type() == QEvent.Type.Resize:
            self.setGeometry(self._host.rect())
        return False

    def show_for(self, count: int, folders: int, models: bool = False) -> None:
        """``models``: every item is a GGUF file, which is offered as the model, never imported."""
        self.text = "Drop to use as the model that answers" if models else "Drop to add to your library"
        self.hint = "you are asked first" if models else "imported in the background; keep chatting"
        parts = []
        files = count - folders
        if files:
            parts.append(f"{files} file{'s' if files != 1 else ''}")
        if folders:
            parts.append(f"{folders} folder{'s' if folders != 1 else ''}")
        self.detail = " and ".join(parts)
        self.setGeometry(self._host.rect())
        self.raise_()
        self.show()
        self.update()

    def paintEvent(self, _event: QPaintEvent) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        accent = pal.color(QPalette.ColorRole.Highlight)
        base = QColor(pal.color(QPalette.ColorRole.Window))
        base.setAlphaF(0.86)
        p.fillRect(self.rect(), base)
        r = QRectF(self.rect()).adjusted(24, 24, -24, -24)
        pen = QPen(accent, 3, Qt.PenStyle.DashLine)
        p.setPen(pen)
        fill = QColor(accent)
        fill.setAlphaF(0.08)
        p.setBrush(fill)
        p.drawRoundedRect(r, 18, 18)
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.8)
        font.setBold(True)
        p.setFont(font)
        p.setPen(pal.color(QPalette.ColorRole.WindowText))
        p.drawText(r.adjusted(0, -30, 0, -30), Qt.AlignmentFlag.AlignCenter, self.text)
        small = QFont(self.font())
        small.setPointSizeF(small.pointSizeF() * 1.15)
        p.setFont(small)
        p.drawText(r.adjusted(0, 40, 0, 40), Qt.AlignmentFlag.AlignCenter,
                   (f"{self.detail} · " if self.detail else "") + self.hint)
        p.end()
