"""Small drivers for the window tests: real Qt events, no engine shortcuts."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from desktop.services import DocumentView


def drop(window: object, paths: list[Path]) -> None:
    """Drag files over the window (the overlay appears), then drop them."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = window.rect().center()  # type: ignore[attr-defined]
    enter = QDragEnterEvent(centre, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                            Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, enter)  # type: ignore[arg-type]
    assert enter.isAccepted()
    assert window.overlay.isVisible()  # type: ignore[attr-defined]
    ev = QDropEvent(QPointF(centre), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                    Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(window, ev)  # type: ignore[arg-type]
    assert not window.overlay.isVisible()  # type: ignore[attr-defined]


def rows(window: object) -> list[DocumentView]:
    return window.library.model.documents()  # type: ignore[attr-defined, no-any-return]


def row_for(window: object, name: str) -> DocumentView | None:
    return next((d for d in rows(window) if d.source.endswith(name)), None)


def all_ready(window: object, names: list[str]) -> bool:
    return all((d := row_for(window, n)) is not None and d.status == "ready" for n in names)
