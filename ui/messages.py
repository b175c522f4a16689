"""One way to tell the user things: ``info``, ``warning``, ``error``.

Routine messages go to the status bar; dialogs are for decisions only (qutebrowser's
``utils/message.py`` and Anki's ``aqt/errors.py`` work the same way). Anything can post a message
without holding a reference to the window: the bus is a process-wide QObject the window listens to.
Messages are also logged, so the log file tells the same story the user saw.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import Enum

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QMessageBox, QWidget

from desktop.workers import emit

log = logging.getLogger(__name__)


class Level(Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Message:
    level: Level
    text: str
    show_log: bool = False  # offer "Open log": the details are in the log file


class MessageBus(QObject):
    posted = Signal(object)  # Message

    def __init__(self) -> None:
        super().__init__()
        self.history: list[Message] = []

    def post(self, message: Message) -> None:
        self.history = (self.history + [message])[-200:]
        emit(self.posted, message)


_bus: MessageBus | None = None


def bus() -> MessageBus:
    global _bus
    if _bus is None:
        _bus = MessageBus()
    return _bus


def info(text: str) -> None:
    log.info("message level=info text=%s", text)
    bus().post(Message(Level.INFO, text))


def warning(text: str) -> None:
    log.warning("message level=warning text=%s", text)
    bus().post(Message(Level.WARNING, text))


def error(text: str) -> None:
    log.error("message level=error text=%s", text)
    bus().post(Message(Level.ERROR, text, show_log="in the log" in text))


def decide(parent: QWidget | None, title: str, text: str, action: str, *, destructive: bool = False) -> bool:
    """The one dialog: a decision the user must make. ``action`` labels the button that says yes;
    Cancel is the other, and the default when the action destroys something."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text, parent=parent)
    yes = box.addButton(action, QMessageBox.ButtonRole.DestructiveRole if destructive
                        else QMessageBox.ButtonRole.AcceptRole)
    cancel = box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(cancel if destructive else yes)
    box.exec()
    return box.clickedButton() is yes
