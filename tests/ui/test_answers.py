"""Grounded answers in the window: unsupported sentences, abstentions with suggestions, stop notes,
status lines and the chat's scope. The answers are scripted (``tests/ui/scripted.py``) so that the
outcome does not depend on sampling; the library, search and source viewer are real."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import QToolButton, QToolTip

from core.answer import ABSTAIN_TEXT, AnswerEvent
from desktop.services import Services, result_from_message
from tests.ui.conftest import open_window
from tests.ui.helpers import all_ready, drop, row_for
from tests.ui.scripted import Script, ScriptedEngine, answer, cite, sentences
from ui.answer_render import UNSUPPORTED_TIP
from ui.answer_widget import ABSTAIN_TITLE, ABSTAIN_WHY, AnswerWidget

ANSWER_MS = 30_000


class Scripts:
    current: Script | None = None


@pytest.fixture
def scripted(qtbot, data_dir: Path, docs: Path) -> Iterator[tuple[Any, ScriptedEngine, Scripts]]:  # type: ignore[no-untyped-def]
    scripts = Scripts()
    engines: list[ScriptedEngine] = []

    def factory(d: Path) -> ScriptedEngine:
        engines.append(ScriptedEngine(d, lambda: scripts.current))
        return engines[-1]

    services = Services(data_dir, engine_factory=factory)
    w = open_window(qtbot, services)
    drop(w, sorted(docs.iterdir()))
    qtbot.waitUntil(lambda: all_ready(w, ["solar.md", "tea.md", "volcano.md"]), timeout=120_000)
    yield w, engines[0], scripts
    engines[0].gate.set()
    w.close()
    assert services.shutdown(10.0)


def ask(qtbot, w, question: str) -> AnswerWidget:  # type: ignore[no-untyped-def]
    w.chat.input.setPlainText(question)
    with qtbot.waitSignal(w.answer_started, timeout=10_000) as started:
        qtbot.mouseClick(w.chat.send_button, Qt.MouseButton.LeftButton)
    job = started.args[0]
    if not job.is_finished:
        qtbot.waitSignal(job.finished, timeout=ANSWER_MS).wait()
    widget: AnswerWidget = w.chat.answers[-1]
    return widget


def char_format_at(html: str, text: str) -> tuple[QTextCharFormat, str]:
    """The format of ``text``'s middle character once the label's rich text is laid out."""
    doc = QTextDocument()
    doc.setHtml(html)
    plain = doc.toPlainText()
    i = plain.index(text) + len(text) // 2
    cur = QTextCursor(doc)
    cur.setPosition(i)
    cur.setPosition(i + 1, QTextCursor.MoveMode.KeepAnchor)
    return cur.charFormat(), plain


def test_an_unsupported_sentence_is_marked_and_never_cited(qtbot, scripted) -> None:
    w, engine, scripts = scripted
    supported = "The first practical silicon solar cell was built at Bell Labs in 1954 [1]."
    invented = "It was powered by green tea leaves [1]."  # the marker must not survive the check

    def script(eng: ScriptedEngine, q: str, _kw: dict[str, Any]) -> Iterator[AnswerEvent]:
        solar = eng.hit(q, "solar.md")
        yield AnswerEvent("retrieved", chunks=(solar,))
        text = f"{supported} {invented}"
        for word in text.split(" "):
            yield AnswerEvent("token", word + " ")
        yield AnswerEvent("done", answer=answer(q, text, citations=[cite(1, solar)], sentences=sentences(
            text, (supported, [1], True), (invented, [], False))))

    scripts.current = script
    widget = ask(qtbot, w, "Who built the first solar cell?")
    html = widget.label.text()
    fmt, plain = char_format_at(html, "green tea")
    assert fmt.underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline, "the sentence is visibly marked"
    assert not fmt.isAnchor()
    unsupported_part = plain[plain.index("It was powered"):]
    assert "[1]" not in unsupported_part, "an unsupported sentence carries no citation"
    assert plain.count("[1]") == 1 and html.count("href='cite:1'") == 1  # the supported one keeps its link
    assert "unsupported" in plain
    assert widget.note.isVisible() and "1 sentence is not supported" in widget.note.text()
    # Hovering the tag explains it.
    widget.label.linkHovered.emit("unsupported:0")
    assert QToolTip.text() == UNSUPPORTED_TIP
    # The Sources list shows only what the answer cited.
    assert widget.sources.isVisible() and widget.sources.text().count("cite:") == 1
    widget.sources.linkActivated.emit("cite:1")
    assert w.viewer.isVisible() and "Bell Labs" in w.viewer.displayed_text()


def abstaining(reason: str) -> Any:
    """A script that abstains for ``reason``, offering the green tea passage to read."""

    def script(eng: ScriptedEngine, q: str, _kw: dict[str, Any]) -> Iterator[AnswerEvent]:
        tea = eng.hit("green tea", "tea.md")
        yield AnswerEvent("retrieved", chunks=(tea,))
        yield AnswerEvent("done", answer=answer(q, ABSTAIN_TEXT, abstained=True, backend="local",
                                                suggestions=[cite(1, tea)], abstain_reason=reason))

    return script


def test_an_abstention_offers_passages_to_read(qtbot, scripted) -> None:
    w, engine, scripts = scripted
    scripts.current = abstaining("answerability")
    widget = ask(qtbot, w, "How much caffeine does green tea have?")
    assert widget.abstain_box.isVisible() and widget.abstain_title.text() == ABSTAIN_TITLE
    assert widget.abstain_why.isVisible(), "the person is told why"
    assert widget.abstain_why.text() == ABSTAIN_WHY["answerability"] and "states the answer" in widget.abstain_why.text()
    assert not widget.label.isVisible(), "an abstention is not drawn as an answer"
    assert not widget.sources.isVisible(), "nothing is cited"
    assert widget.suggestions_title.text() == "You may want to read:" and widget.suggestions_label.isVisible()
    assert "Green tea" in widget.suggestions_label.text()
    widget.suggestions_label.linkActivated.emit("suggest:0")
    assert w.viewer.isVisible() and w.viewer.citation is not None
    assert w.viewer.citation.source.endswith("tea.md") and "Camellia sinensis" in w.viewer.displayed_text()
    assert not w.viewer.title.text().startswith("["), "a suggestion is not a numbered citation"


def test_an_abstention_for_a_guessed_answer_says_so(qtbot, scripted) -> None:
    """The "unsure" rule's abstention tells the person the model had to guess, not a generic line."""
    w, engine, scripts = scripted
    scripts.current = abstaining("unsure")
    widget = ask(qtbot, w, "How much caffeine does green tea have?")
    assert widget.abstain_box.isVisible() and widget.abstain_why.isVisible()
    assert widget.abstain_why.text() == ABSTAIN_WHY["unsure"] and "guess" in widget.abstain_why.text()
    assert "Green tea" in widget.suggestions_label.text()


def test_a_runaway_answer_says_it_was_stopped_for_repetition(qtbot, scripted) -> None:
    w, engine, scripts = scripted

    def script(eng: ScriptedEngine, q: str, _kw: dict[str, Any]) -> Iterator[AnswerEvent]:
        text = "Volcanoes erupt. Volcanoes erupt. Volcanoes erupt."
        yield AnswerEvent("token", text)
        yield AnswerEvent("done", answer=answer(q, "Volcanoes erupt.", stopped=True, stop_reason="repetition"))

    scripts.current = script
    widget = ask(qtbot, w, "Tell me about volcanoes")
    assert widget.note.isVisible() and widget.note.text() == "Stopped: the model started repeating itself"
    assert widget.text == "Volcanoes erupt.", "the finished answer is drawn, not the streamed text"
    assert "Volcanoes erupt." in widget.label.text() and widget.label.text().count("Volcanoes") == 1


def test_a_status_line_shows_until_the_tokens_come(qtbot, scripted) -> None:
    w, engine, scripts = scripted
    line = "Summarizing “Green tea” (1 passages): a summary is on its way…"

    def script(eng: ScriptedEngine, q: str, _kw: dict[str, Any]) -> Iterator[AnswerEvent]:
        yield AnswerEvent("retrieved", chunks=(eng.hit("green tea", "tea.md"),))
        yield AnswerEvent("status", line)
        assert eng.gate.wait(20), "the test never opened the gate"
        yield AnswerEvent("token", "Green tea is unoxidised tea [1].")
        yield AnswerEvent("done", answer=answer(q, "Green tea is unoxidised tea [1].", mode="summary",
                                                citations=[cite(1, eng.hit("green tea", "tea.md"))]))

    scripts.current = script
    w.chat.input.setPlainText("Summarize Green tea")
    with qtbot.waitSignal(w.answer_started, timeout=10_000) as started:
        qtbot.mouseClick(w.chat.send_button, Qt.MouseButton.LeftButton)
    job = started.args[0]
    with qtbot.waitSignal(job.status, timeout=ANSWER_MS):
        pass
    widget = w.chat.answers[-1]
    assert widget.status.isVisible() and widget.status.text() == line
    with qtbot.waitSignals([job.token, job.done], timeout=ANSWER_MS, order="strict"):
        engine.gate.set()
    assert not widget.status.isVisible() and "unoxidised" in widget.label.text()


def test_the_chat_can_be_scoped_to_the_selected_documents(qtbot, scripted) -> None:
    w, engine, scripts = scripted

    def script(eng: ScriptedEngine, q: str, kw: dict[str, Any]) -> Iterator[AnswerEvent]:
        yield AnswerEvent("done", answer=answer(q, "Scoped." if kw.get("document_ids") else "Whole library.",
                                                scope=list(kw.get("document_ids") or [])))

    scripts.current = script
    tea, volcano = row_for(w, "tea.md"), row_for(w, "volcano.md")
    assert tea is not None and volcano is not None
    assert not w.chat.scope_chip.isVisible()
    # Select two documents and press Ctrl+Shift+A.
    w.library.select_source(tea.source)
    sel = w.library.view.selectionModel()
    sel.select(w.library.proxy.mapFromSource(w.library.model.index(w.library.model.row_of(volcano.source))),
               sel.SelectionFlag.Select)
    qtbot.keyClick(w, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert w.chat.scope_chip.isVisible()
    chip = w.chat.scope_chip.label.text()
    assert chip.startswith("Asking about: ") and "Green tea" in chip and "Volcanoes of Iceland" in chip
    widget = ask(qtbot, w, "What is this about?")
    question, kwargs = engine.asked[-1]
    assert sorted(kwargs["document_ids"]) == sorted([tea.id, volcano.id])
    assert widget.text == "Scoped." and widget.scope_line.isVisible() and "Green tea" in widget.scope_line.text()

    # × returns to the whole library.
    qtbot.mouseClick(w.chat.scope_chip.clear_button, Qt.MouseButton.LeftButton)
    assert not w.chat.scope_chip.isVisible() and w.chat.scope_ids() == []
    widget = ask(qtbot, w, "And now?")
    assert "document_ids" not in engine.asked[-1][1] and widget.text == "Whole library."
    assert not widget.scope_line.isVisible()

    # The library's "Ask about" button scopes to one document; removing it clears the scope.
    w.library.view.clearSelection()
    w.library.select_source(tea.source)
    button = next(b for b in w.library.findChildren(QToolButton) if b.defaultAction() is w.library.ask_action)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert w.chat.scope_ids() == [tea.id] and "Green tea" in w.chat.scope_chip.label.text()
    w.remove_document(tea)
    qtbot.waitUntil(lambda: row_for(w, "tea.md") is None, timeout=30_000)
    qtbot.waitUntil(lambda: not w.chat.scope_chip.isVisible(), timeout=10_000)
    assert w.chat.scope_ids() == []


def test_a_reopened_conversation_is_drawn_the_same(qtbot, scripted) -> None:
    w, engine, _scripts = scripted
    store = w.services.conversation_store()
    conv = store.create("Tea and the sun")
    solar = engine.hit("solar cell", "solar.md")
    tea = engine.hit("green tea", "tea.md")
    text = "Bell Labs built it in 1954 [1]. It ran on tea."
    store.add_message(conv.id, "user", "Who built the first solar cell?")
    store.add_message(conv.id, "assistant", text, [cite(1, solar)], "local",
                      meta={"unsupported": ["It ran on tea."], "stop_reason": "repetition"})
    store.add_message(conv.id, "user", "How much caffeine is in tea?")
    store.add_message(conv.id, "assistant", ABSTAIN_TEXT, [], "none", abstained=True,
                      meta={"suggestions": [cite(1, tea).as_dict()], "abstain_reason": "relevance"})
    assert result_from_message(store.messages(conv.id)[1]).unsupported == ["It ran on tea."]
    w.refresh_conversations()
    qtbot.waitUntil(lambda: w.conversations.list.count() == 1, timeout=10_000)
    w.conversations.list.setCurrentRow(0)
    qtbot.waitUntil(lambda: len(w.chat.answers) == 2, timeout=10_000)
    first, second = w.chat.answers
    fmt, _plain = char_format_at(first.label.text(), "ran on tea")
    assert fmt.underlineStyle() == QTextCharFormat.UnderlineStyle.WaveUnderline
    assert "Stopped: the model started repeating itself" in first.note.text()
    assert second.abstain_box.isVisible() and "Green tea" in second.suggestions_label.text()
    assert second.abstain_why.text() == ABSTAIN_WHY["relevance"], "a stored abstention keeps its reason"
    assert not first.abstain_why.isVisible()
    second.suggestions_label.linkActivated.emit("suggest:0")
    assert w.viewer.isVisible() and w.viewer.citation is not None and w.viewer.citation.source.endswith("tea.md")
