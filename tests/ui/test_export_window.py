"""Export a conversation from the window: the file holds the questions, the answers and each source once."""

from __future__ import annotations

import json
from pathlib import Path

from core.conversations import Citation
from ui import conversation_list


def _conversation(window) -> str:  # type: ignore[no-untyped-def]
    store = window.services.conversation_store()
    conv = store.create("Tides")
    cite = Citation(n=1, chunk_id="c1", document_id="d1", source="/docs/tides.pdf", title="Tides", section="",
                    page=3, text="Spring tides happen twice a month.")
    store.add_message(conv.id, "user", "When are spring tides?")
    store.add_message(conv.id, "assistant", "Twice a month [1].", citations=[cite])
    window.refresh_conversations()
    return str(conv.id)


def test_export_a_conversation_to_markdown_and_json(qtbot, window, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _conversation(window)
    qtbot.waitUntil(lambda: window.conversations.list.count() == 1, timeout=10_000)
    window.conversations.list.setCurrentRow(0)
    md, js = tmp_path / "tides.md", tmp_path / "tides.json"
    monkeypatch.setattr(conversation_list.ExportDialog, "ask", classmethod(lambda cls, parent, title: (str(md), "md")))
    window.conversations.export_current()
    qtbot.waitUntil(md.exists, timeout=10_000)
    text = md.read_text(encoding="utf-8")
    assert text.startswith("# Tides") and "## When are spring tides?" in text and "Twice a month [1]." in text
    assert "1. **Tides**, page 3" in text
    monkeypatch.setattr(conversation_list.ExportDialog, "ask", classmethod(lambda cls, parent, title: (str(js), "json")))
    window.export_action.trigger()  # Conversation > Export… in the menu bar
    qtbot.waitUntil(js.exists, timeout=10_000)
    assert json.loads(js.read_text(encoding="utf-8"))["sources"][0]["page"] == 3


def test_an_export_that_cannot_be_written_says_why(qtbot, window, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from ui import messages

    _conversation(window)
    qtbot.waitUntil(lambda: window.conversations.list.count() == 1, timeout=10_000)
    window.conversations.list.setCurrentRow(0)
    errors: list[str] = []
    monkeypatch.setattr(messages, "error", lambda text, *a, **k: errors.append(text))
    target = tmp_path / "no-such-folder" / "x.md"
    monkeypatch.setattr(conversation_list.ExportDialog, "ask", classmethod(lambda cls, parent, title: (str(target), "md")))
    window.conversations.export_current()
    qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
    assert "cannot write the export" in errors[0] and str(target) in errors[0]
