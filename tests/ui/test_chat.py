"""Chat with the real SmolLM2: streamed tokens, citations, the source viewer, Stop, conversations."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from core.settings import Settings
from tests.ui.helpers import all_ready, drop, row_for
from ui import answer_render, conversation_list, source_viewer

ANSWER_TIMEOUT_MS = 180_000


@pytest.fixture
def library_window(qtbot, window, docs: Path):  # type: ignore[no-untyped-def]
    drop(window, sorted(docs.iterdir()))
    qtbot.waitUntil(lambda: all_ready(window, ["solar.md", "tea.md", "volcano.md"]), timeout=120_000)
    return window


def ask(qtbot, window, question: str):  # type: ignore[no-untyped-def]
    """Type the question and press Enter, as a user would; returns the answer job."""
    window.chat.input.setFocus()
    qtbot.keyClicks(window.chat.input, question)
    with qtbot.waitSignal(window.answer_started, timeout=30_000) as started:
        qtbot.keyClick(window.chat.input, Qt.Key.Key_Return)
    return started.args[0]


def test_ask_streams_tokens_cites_and_opens_the_source(qtbot, real_default_model, library_window,
                                                       monkeypatch) -> None:
    """End to end with the app's real default model (the bundled Qwen 1.5B): SmolLM2 now abstains
    on most questions, which the answer path rightly refuses to dress up as an answer."""
    w = library_window
    qtbot.waitUntil(lambda: w.model_status is not None, timeout=30_000)
    assert w.model_label.text().startswith("Qwen2.5-Coder-1.5B")
    job = ask(qtbot, w, "When was the first practical silicon solar cell built?")
    tokens: list[str] = []
    job.token.connect(tokens.append)
    assert w.chat.stop_button.isVisible() and not w.chat.send_button.isVisible()
    with qtbot.waitSignal(job.done, timeout=ANSWER_TIMEOUT_MS) as done:
        pass
    result = done.args[0]
    answer = w.chat.answers[-1]
    assert len(tokens) > 1, "tokens arrive one by one, not as one block"
    assert answer.text == result.text and result.text.strip()
    assert result.citations, "the answer cites at least one passage"
    first = result.citations[0]
    assert first.n == 1 and first.chunk_id and "solar" in first.source
    # The source list under the answer names the title and links every marker.
    assert answer.sources.isVisible()
    assert "Solar power" in answer.sources.text() and "cite:1" in answer.sources.text()
    if "[1]" in result.text:
        assert "cite:1" in answer.label.text()  # the inline marker is a link too
    assert not w.chat.stop_button.isVisible()
    assert answer.meta.text() == f"Answered by {w.model_status.name}", "the name the status bar shows"

    # Click [1]: the viewer shows that very chunk, highlighted, with title and section.
    answer.sources.linkActivated.emit("cite:1")
    assert w.viewer.isVisible()
    assert w.viewer.citation is not None and w.viewer.citation.chunk_id == first.chunk_id
    assert "Bell Labs" in w.viewer.displayed_text()
    assert "Solar power" in w.viewer.title.text()
    assert "background-color" in w.viewer.text.toHtml()

    opened: list[str] = []
    monkeypatch.setattr(source_viewer, "open_url", lambda url: opened.append(url.toString()) or True)
    qtbot.mouseClick(w.viewer.open_button, Qt.MouseButton.LeftButton)
    assert opened and opened[0].startswith("file://") and opened[0].endswith("solar.md")

    # The conversation was created, named after the question, and saved with its answer.
    qtbot.waitUntil(lambda: w.conversations.list.count() == 1, timeout=10_000)
    assert "solar cell" in w.conversations.list.item(0).text()


def test_stop_ends_the_answer_at_once(qtbot, library_window) -> None:
    w = library_window
    slow = Settings.load(w.services.data_dir)
    slow.max_answer_tokens = 384
    w.services.save_settings(slow)
    job = ask(qtbot, w, "Write a long essay about green tea, its history and how it is made.")
    with qtbot.waitSignal(job.token, timeout=ANSWER_TIMEOUT_MS):
        pass
    qtbot.keyClick(w, Qt.Key.Key_Escape)
    # Ended for the user immediately, not after the worker notices.
    assert job.is_finished and job.stopped
    answer = w.chat.answers[-1]
    assert answer.finished and "Stopped" in answer.note.text() and answer.note.isVisible()
    assert w.chat.send_button.isVisible() and not w.chat.stop_button.isVisible()
    text = answer.text
    assert job.worker is not None
    qtbot.waitUntil(lambda: job.worker.is_done, timeout=10_000)
    assert answer.text == text, "no tokens are drawn after Stop"
    # The window can ask again right away.
    job2 = ask(qtbot, w, "Where did green tea originate?")
    with qtbot.waitSignal(job2.token, timeout=ANSWER_TIMEOUT_MS):
        pass
    qtbot.mouseClick(w.chat.stop_button, Qt.MouseButton.LeftButton)
    assert job2.is_finished and job2.stopped


def test_enter_sends_shift_enter_adds_a_line(qtbot, window) -> None:
    sent: list[str] = []
    window.chat.send.disconnect()
    window.chat.send.connect(sent.append)
    window.chat.input.setFocus()
    qtbot.keyClicks(window.chat.input, "first line")
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(window.chat.input, "second line")
    assert window.chat.input.toPlainText() == "first line\nsecond line"
    qtbot.keyClick(window.chat.input, Qt.Key.Key_Return)
    assert sent == ["first line\nsecond line"]
    assert window.chat.input.toPlainText() == ""


def test_conversations_new_rename_delete(qtbot, library_window, monkeypatch) -> None:
    w = library_window
    job = ask(qtbot, w, "What grounded flights across Europe in 2010?")
    with qtbot.waitSignal(job.done, timeout=ANSWER_TIMEOUT_MS) as done:
        pass
    live = done.args[0]
    live_box = w.chat.answers[-1].abstain_box.isVisible()
    qtbot.waitUntil(lambda: w.conversations.list.count() == 1, timeout=10_000)
    first_id = w.conversation_id

    qtbot.keyClick(w, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # Ctrl+N
    assert w.conversation_id is None and not w.chat.answers
    assert w.chat.stack.currentWidget() is w.chat.empty

    # Re-open the first conversation: its messages and citations come back from the store.
    w.conversations.list.setCurrentRow(0)
    qtbot.waitUntil(lambda: len(w.chat.answers) == 1, timeout=10_000)
    assert w.conversation_id == first_id
    again = w.chat.answers[0]
    assert [c.chunk_id for c in again.citations.values()] == [c.chunk_id for c in live.citations]
    assert again.abstain_box.isVisible() == live_box and again.text == live.text

    monkeypatch.setattr(conversation_list.RenameDialog, "ask", classmethod(lambda cls, parent, title: "Iceland"))
    w.conversations.rename_current()
    qtbot.waitUntil(lambda: w.conversations.list.count() == 1 and w.conversations.list.item(0).text() == "Iceland",
                    timeout=10_000)
    assert w.chat.title.text() == "Iceland"

    monkeypatch.setattr(conversation_list.ConfirmDelete, "ask", classmethod(lambda cls, parent, title: True))
    w.conversations.list.setCurrentRow(0)
    w.conversations.delete_current()
    qtbot.waitUntil(lambda: w.conversations.list.count() == 0, timeout=10_000)
    assert w.conversation_id is None


def test_markers_link_only_cited_numbers() -> None:
    html = answer_render.render_answer("Built in 1954 [1]. Also [2, 3] and [4-5]. Not a [link](http://x).",
                                       cited={1, 2, 3, 4})
    assert "href='cite:1'" in html and "href='cite:2'" in html and "href='cite:4'" in html
    assert "cite:5" not in html, "a number the answer does not cite is not a link"
    assert "link (http://x)" in html and "href='http" not in html, "a Markdown link is text, never a link"
    streaming = answer_render.render_answer("Built in 1954 [1].", cited=None)
    assert "[1]" in streaming and "cite:" not in streaming, "nothing is a link while streaming"


def test_a_scoped_question_cites_only_the_selected_document(qtbot, library_window) -> None:
    """Through the real engine: with tea.md selected, even a question about the solar cell cites
    nothing outside tea.md (it abstains, or cites tea.md)."""
    w = library_window
    tea = row_for(w, "tea.md")
    assert tea is not None
    w.library.select_source(tea.source)
    qtbot.keyClick(w, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.chat.scope_ids() == [tea.id] and w.chat.scope_chip.isVisible()
    job = ask(qtbot, w, "When was the first practical silicon solar cell built?")
    assert job.document_ids == [tea.id]
    with qtbot.waitSignal(job.done, timeout=ANSWER_TIMEOUT_MS) as done:
        pass
    result = done.args[0]
    assert result.scope == [tea.id]
    assert all(c.document_id == tea.id for c in [*result.citations, *result.suggestions])
    assert "Green tea" in w.chat.answers[-1].scope_line.text()
