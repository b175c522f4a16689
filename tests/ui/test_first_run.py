"""What a new user meets: the cursor in the question box, and an empty library that says how to
add documents and which keys matter."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from tests.ui.helpers import all_ready
from ui import main_window

IMPORT_MS = 120_000


def test_focus_starts_in_the_question_box(qtbot, window) -> None:
    qtbot.waitUntil(lambda: QApplication.focusWidget() is not None, timeout=5_000)
    assert window.chat.input.hasFocus(), f"focus is in {QApplication.focusWidget()}"
    assert not window.import_bar.url.hasFocus()
    qtbot.keyClicks(QApplication.focusWidget(), "Where")
    assert window.chat.input.toPlainText() == "Where", "typing goes straight into the question"


def test_the_empty_library_says_how_to_add_documents(qtbot, window, docs: Path, monkeypatch) -> None:
    chat = window.chat
    qtbot.waitUntil(lambda: chat.empty_add.isVisible(), timeout=10_000)
    hint = chat.empty_hint.text()
    assert chat.stack.currentWidget() is chat.empty
    for way in ("drop files", "Add files…", "paste a link"):
        assert way in hint, way
    for key in ("Ctrl+O", "Ctrl+L", "Ctrl+N", "Esc", "Ctrl+,"):
        assert key in hint, key
    library_text = window.library.empty.text()
    assert window.library.empty.isVisible()
    assert "Drop files" in library_text and "Add files…" in library_text and "link" in library_text

    # The button under the hint is the real Add files… : picker, then import.
    monkeypatch.setattr(main_window.ChooseFiles, "ask", classmethod(lambda cls, parent: [str(docs / "tea.md")]))
    qtbot.mouseClick(chat.empty_add, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: all_ready(window, ["tea.md"]), timeout=IMPORT_MS)
    qtbot.waitUntil(lambda: "Ask a question" in chat.empty_title.text(), timeout=IMPORT_MS)
    assert not chat.empty_add.isVisible() and not window.library.empty.isVisible()


def test_about_names_the_version_the_licences_and_the_data_folder(qtbot, window) -> None:
    from importlib import metadata

    window.about_action.trigger()
    qtbot.waitUntil(lambda: window.about_dialog is not None and window.about_dialog.isVisible(), timeout=30_000)
    dlg = window.about_dialog
    assert dlg.title.text() == f"Footnote {metadata.version('footnote')}"
    assert str(window.services.data_dir) in dlg.data_folder.text()
    licences = dlg.licences.toPlainText()
    assert "Apache" in licences and "Qwen" in licences and "all-MiniLM-L6-v2" in licences
