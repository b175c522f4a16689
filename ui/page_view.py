"""A PDF page as PDFium drew it, with the cited passage marked: zoom, previous and next page, and
"Open in system viewer".

The widget only paints. Every page is drawn in a worker (``Services.render_page``) and arrives as
a ``PageView`` (a ``QImage`` and the passage's rectangles in its pixels); a page asked for while
another is being drawn replaces it, and a late answer to an older request is dropped.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QRectF, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QKeySequence, QPainter, QPaintEvent, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.workers import emit
from ui import messages

if TYPE_CHECKING:
    from desktop.services import PageView, Services

log = logging.getLogger(__name__)

ZOOM_STEP = 1.25
MIN_ZOOM = 0.25  # logical pixels per PDF point
MAX_ZOOM = 6.0
HIGHLIGHT = QColor(255, 214, 0, 110)
HIGHLIGHT_EDGE = QColor(230, 160, 0, 200)


def open_file(url: QUrl) -> bool:
    """One place that hands a file to the desktop's default app, so tests can patch it."""
    from PySide6.QtGui import QDesktopServices

    return QDesktopServices.openUrl(url)


class PageCanvas(QWidget):
    """Paints one page image and its highlight rectangles, at the image's device pixel ratio."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pageCanvas")
        self.image: QImage | None = None
        self.boxes: tuple[tuple[float, float, float, float], ...] = ()

    def set_page(self, image: QImage, boxes: tuple[tuple[float, float, float, float], ...]) -> None:
        self.image, self.boxes = image, boxes
        ratio = image.devicePixelRatio() or 1.0
        self.setFixedSize(int(round(image.width() / ratio)), int(round(image.height() / ratio)))
        self.update()

    def logical_boxes(self) -> list[QRectF]:
        ratio = (self.image.devicePixelRatio() if self.image is not None else 1.0) or 1.0
        return [QRectF(x0 / ratio, y0 / ratio, (x1 - x0) / ratio, (y1 - y0) / ratio) for x0, y0, x1, y1 in self.boxes]

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 - Qt's name
        if self.image is None:
            return
        p = QPainter(self)
        p.drawImage(0, 0, self.image)
        p.setCompositionMode(QPainter.CompositionMode.CompositionMode_Multiply)
        p.setPen(HIGHLIGHT_EDGE)
        p.setBrush(HIGHLIGHT)
        for r in self.logical_boxes():
            p.drawRoundedRect(r, 2, 2)
        p.end()


class PdfPageView(QWidget):
    """The page viewer. ``show_page`` takes a drawn page; the buttons and shortcuts ask for others."""

    rendered = Signal(object)  # PageView, once it is on screen (tests wait for it)

    def __init__(self, services: Services | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("pageView")
        self.services = services
        self.current: PageView | None = None
        self.cited_page = 0
        self.char_range: tuple[int, int] | None = None
        self.passage = ""
        self.zoom = 1.0  # logical pixels per PDF point
        self._token = 0
        self._pending = False
        self.fitting = True  # the page follows the pane's width until the user zooms
        self._refit = QTimer(self)
        self._refit.setSingleShot(True)
        self._refit.setInterval(120)
        self._refit.timeout.connect(self._fit_again)

        self.prev_button = self._tool("◀", "Previous page", self.previous_page)
        self.next_button = self._tool("▶", "Next page", self.next_page)
        self.page_label = QLabel()
        self.page_label.setObjectName("muted")
        self.zoom_out_button = self._tool("−", "Zoom out (Ctrl+-)", self.zoom_out)
        self.zoom_in_button = self._tool("+", "Zoom in (Ctrl++)", self.zoom_in)
        self.zoom_label = QLabel()
        self.zoom_label.setObjectName("muted")
        self.system_button = self._tool("Open in system viewer", "Open the file in the desktop's PDF viewer",
                                        self.open_in_system_viewer)
        self.system_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (self.prev_button, self.page_label, self.next_button):
            bar.addWidget(w)
        bar.addStretch(1)
        for w in (self.zoom_out_button, self.zoom_label, self.zoom_in_button, self.system_button):
            bar.addWidget(w)
        self.canvas = PageCanvas()
        self.scroller = QScrollArea()
        self.scroller.setObjectName("pageScroll")
        self.scroller.setWidget(self.canvas)
        self.scroller.setAlignment(Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop)
        self.scroller.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self.scroller, 1)
        self.scroller.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # a click on the page takes the keys
        self.scroller.viewport().installEventFilter(self)
        self._update_controls()

    def _tool(self, text: str, tip: str, slot: object) -> QToolButton:
        b = QToolButton()
        b.setText(text)
        b.setToolTip(tip)
        b.setAccessibleName(tip)
        b.setAutoRaise(True)
        b.clicked.connect(slot)
        return b

    # -- what is shown ----------------------------------------------------------------------------

    def set_citation(self, page: int, char_range: tuple[int, int] | None, passage: str) -> None:
        """The cited page and passage: marked whenever that page is drawn again (zoom, back)."""
        self.cited_page, self.char_range, self.passage = page, char_range, passage
        self.fitting = True
        self._token += 1  # whatever was being drawn for the last citation is stale now

    def device_ratio(self) -> float:
        return float(self.devicePixelRatioF() or 1.0)

    def fit_width(self) -> int:
        """Pixels (device) that make a page fill the visible width."""
        width = self.scroller.viewport().width() or self.width() or 400
        return max(100, int((width - 4) * self.device_ratio()))

    def show_page(self, view: PageView) -> None:
        self.current = view
        ratio = self.device_ratio()
        self.zoom = view.scale / ratio
        image = QImage(view.image)
        image.setDevicePixelRatio(ratio)
        self.canvas.set_page(image, view.boxes)
        self._pending = False
        self._update_controls()
        self.scroll_to_passage()
        QTimer.singleShot(0, self.scroll_to_passage)  # again once the scroll area knows the new size
        if self.fitting and abs(self.fit_width() - view.image.width()) > 0.05 * self.fit_width():
            self._refit.start()  # the pane changed width while the page was drawn
        emit(self.rendered, view)

    def scroll_to_passage(self) -> None:
        boxes = self.canvas.logical_boxes()
        if not boxes:
            self.scroller.verticalScrollBar().setValue(0)
            return
        first = boxes[0]
        viewport = self.scroller.viewport()
        self.scroller.ensureVisible(int(first.center().x()), int(first.center().y()),
                                    int(min(first.width() / 2 + 20, viewport.width() / 2)),
                                    int(viewport.height() / 3))

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        """Ctrl++ (or Ctrl+=, the same key unshifted) and Ctrl+- zoom while the page has the focus;
        the scroll area passes these up, having no use for them."""
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if event.matches(QKeySequence.StandardKey.ZoomIn) or (ctrl and event.key() == Qt.Key.Key_Equal):
            self.zoom_in()
        elif event.matches(QKeySequence.StandardKey.ZoomOut):
            self.zoom_out()
        else:
            super().keyPressEvent(event)
            return
        event.accept()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if (event.type() == QEvent.Type.Wheel and isinstance(event, QWheelEvent)
                and event.modifiers() & Qt.KeyboardModifier.ControlModifier):
            if event.angleDelta().y() > 0:
                self.zoom_in()
            elif event.angleDelta().y() < 0:
                self.zoom_out()
            return True  # Ctrl+wheel zooms, as in every document viewer, instead of scrolling
        return super().eventFilter(watched, event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        if self.fitting and self.current is not None and event.size().width() != event.oldSize().width():
            self._refit.start()  # after the pane stops moving, not on every step of a drag

    def _fit_again(self) -> None:
        v = self.current
        if v is not None and self.fitting and abs(self.fit_width() - v.image.width()) > 0.05 * self.fit_width():
            self.request(v.page, None)

    def highlight_boxes(self) -> tuple[tuple[float, float, float, float], ...]:
        """The highlight rectangles in the drawn image's pixels."""
        return self.canvas.boxes

    def _update_controls(self) -> None:
        v = self.current
        self.page_label.setText(f"Page {v.page} of {v.pages}" if v else "")
        self.zoom_label.setText(f"{round(self.zoom * 72 / 96 * 100)} %" if v else "")
        self.prev_button.setEnabled(bool(v and v.page > 1))
        self.next_button.setEnabled(bool(v and v.page < v.pages))
        self.zoom_out_button.setEnabled(bool(v) and self.zoom > MIN_ZOOM * 1.01)
        self.zoom_in_button.setEnabled(bool(v) and self.zoom < MAX_ZOOM / 1.01)
        self.system_button.setEnabled(bool(v))

    # -- asking for pages ---------------------------------------------------------------------------

    def request(self, page: int, zoom: float | None = None) -> None:
        """Draw ``page`` at ``zoom`` (logical pixels per point; None: the width of the pane)."""
        if self.services is None or self.current is None:
            return
        self._token += 1
        token = self._token
        self._pending = True
        if zoom is not None:
            self.zoom = zoom  # a second Ctrl++ before this page arrives zooms on from here
            self._update_controls()
        on_cited = page == self.cited_page
        scale = None if zoom is None else zoom * self.device_ratio()
        source = self.current.source

        def done(view: PageView) -> None:
            if token == self._token:
                self.show_page(view)

        def failed(message: str) -> None:
            if token == self._token:
                self._pending = False
                messages.error(message)

        self.services.render_page(source, page, done, failed, scale=scale,
                                  fit_width=self.fit_width() if zoom is None else None,
                                  char_range=self.char_range if on_cited else None,
                                  passage=self.passage if on_cited else "")

    def next_page(self) -> None:
        if self.current is not None and self.current.page < self.current.pages:
            self.request(self.current.page + 1, None if self.fitting else self.zoom)

    def previous_page(self) -> None:
        if self.current is not None and self.current.page > 1:
            self.request(self.current.page - 1, None if self.fitting else self.zoom)

    def zoom_in(self) -> None:
        if self.current is not None:
            self.fitting = False
            self.request(self.current.page, min(MAX_ZOOM, self.zoom * ZOOM_STEP))

    def zoom_out(self) -> None:
        if self.current is not None:
            self.fitting = False
            self.request(self.current.page, max(MIN_ZOOM, self.zoom / ZOOM_STEP))

    def open_in_system_viewer(self) -> None:
        v = self.current
        if v is None:
            return
        name = Path(v.source).name
        if open_file(QUrl.fromLocalFile(str(Path(v.source)))):
            # Desktop PDF viewers take no page from a file URL in any common way: say which one.
            messages.info(f"Opened {name} — see page {v.page}")
        else:
            messages.error(f"{v.source}: no application could open it")
