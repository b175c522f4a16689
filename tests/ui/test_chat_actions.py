"""Chat actions clicked as a user would: Copy answer (button and Ctrl+Shift+C), New (button and
Ctrl+N, which also closes the source pane), Rename (menu and F2) and Delete (menu and Del, after
the confirmation). The library, search and conversation store are real; the answers are scripted
(``tests/ui/scripted.py``, which stores no messages) so that what is copied does not depend on sampling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from core.answer import AnswerEvent
from desktop.services import Services
from tests.ui.conftest import open_window
from tests.ui.helpers import all_ready, drop
from tests.ui.scripted import ScriptedEngine, answer, cite, sentences
from ui import conversation_list
from ui.answer_widget import AnswerWidget

MS = 30_000
SUPPORTED = "The first practical silicon solar cell was built at Bell Labs in 1954 [1]."
INVENTED = "It ran on green tea [1]."


def solar_script(eng: ScriptedEngine, q: str, _kw: dict[str, Any]) -> Iterator[AnswerEvent]:
    solar = eng.hit("silicon solar cell Bell Labs", "solar.md")
    yield AnswerEvent("retrieved", chunks=(solar,))
    text = f"{SUPPORTED} {INVENTED}"
    yield AnswerEvent("token", text)
    yield AnswerEvent("done", answer=answer(q, text, citations=[cite(1, solar)], sentences=sentences(
        text, (SUPPORTED, [1], True), (INVENTED, [], False))))


@pytest.fixture
def chat(qtbot, data_dir: Path, docs: Path):  # type: ignore[no-untyped-def]
    services = Services(data_dir, engine_factory=lambda d: ScriptedEngine(d, lambda: solar_script))
    w = open_window(qtbot, services)
    drop(w, sorted(docs.iterdir()))
    qtbot.waitUntil(lambda: all_ready(w, ["solar.md", "tea.md", "volcano.md"]), timeout=120_000)
    yield w
    w.close()
    assert services.shutdown(10.0)


def ask(qtbot, w, question: str) -> AnswerWidget:  # type: ignore[no-untyped-def]
    w.chat.input.setPlainText(question)
    with qtbot.waitSignal(w.answer_started, timeout=10_000) as started:
        qtbot.mouseClick(w.chat.send_button, Qt.MouseButton.LeftButton)
    job = started.args[0]
    if not job.is_finished:
        qtbot.waitSignal(job.finished, timeout=MS).wait()
    qtbot.waitUntil(lambda: w.chat.answers[-1].finished, timeout=MS)
    widget: AnswerWidget = w.chat.answers[-1]
    return widget


def test_copy_answer_puts_the_shown_text_and_its_sources_on_the_clipboard(qtbot, chat) -> None:
    w = chat
    QGuiApplication.clipboard().setText("something else")
    widget = ask(qtbot, w, "Who built the first solar cell?")
    assert widget.copy_button.isVisible()
    qtbot.mouseClick(widget.copy_button, Qt.MouseButton.LeftButton)
    copied = QGuiApplication.clipboard().text()
    assert copied.startswith(SUPPORTED)
    assert "It ran on green tea." in copied and "green tea [1]" not in copied, \
        "an unsupported sentence is copied without a citation, as shown"
    assert copied.endswith("Sources:\n[1] Solar power")
    assert "Answer copied" in w.status_text.text()
    # The shortcut copies the newest answer.
    QGuiApplication.clipboard().setText("")
    qtbot.keyClick(w, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert QGuiApplication.clipboard().text() == copied


def test_new_rename_delete_by_clicks_and_keys(qtbot, chat, monkeypatch) -> None:
    w = chat
    widget = ask(qtbot, w, "Who built the first solar cell?")
    qtbot.waitUntil(lambda: w.conversations.list.count() == 1, timeout=MS)
    widget.sources.linkActivated.emit("cite:1")
    assert w.viewer.isVisible()

    # "+ New": an empty chat, and the source pane of the old answer closes.
    qtbot.mouseClick(w.conversations.new_button, Qt.MouseButton.LeftButton)
    assert w.conversation_id is None and not w.chat.answers and not w.viewer.isVisible()
    assert w.chat.input.hasFocus()
    ask(qtbot, w, "And the second conversation?")
    qtbot.waitUntil(lambda: w.conversations.list.count() == 2, timeout=MS)
    w.chat.answers[-1].sources.linkActivated.emit("cite:1")
    assert w.viewer.isVisible()
    qtbot.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert not w.chat.answers and not w.viewer.isVisible() and w.viewer.citation is None

    # Rename through the Conversation menu, then through F2 in the list.
    names = iter(["Solar history", "Cells"])
    monkeypatch.setattr(conversation_list.RenameDialog, "ask",
                        classmethod(lambda cls, parent, title: next(names)))
    w.conversations.list.setCurrentRow(0)
    assert w.conversation_id == w.conversations.current_id()
    w.rename_action.trigger()
    qtbot.waitUntil(lambda: w.conversations.list.item(0).text() == "Solar history", timeout=MS)
    assert w.chat.title.text() == "Solar history"
    w.conversations.list.setFocus()
    qtbot.keyClick(w.conversations.list, Qt.Key.Key_F2)
    qtbot.waitUntil(lambda: w.conversations.list.item(0).text() == "Cells", timeout=MS)

    # Delete: Cancel keeps it; confirmed through the menu, then Del for the other one.
    decision = {"ok": False}
    monkeypatch.setattr(conversation_list.ConfirmDelete, "ask",
                        classmethod(lambda cls, parent, title: decision["ok"]))
    w.delete_action.trigger()
    assert w.conversations.list.count() == 2
    decision["ok"] = True
    w.conversations.list.setCurrentRow(0)
    w.delete_action.trigger()
    qtbot.waitUntil(lambda: w.conversations.list.count() == 1, timeout=MS)
    assert w.conversation_id is None and not w.chat.answers
    assert "Conversation deleted" in w.status_text.text()
    w.conversations.list.setCurrentRow(0)
    w.conversations.list.setFocus()
    qtbot.keyClick(w.conversations.list, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: w.conversations.list.count() == 0, timeout=MS)
    assert not w.services.conversation_store().list(), "gone from the store, not just the list"
