"""Every library action, clicked as a user would: Add files… through the picker, Remove (one and
several, after the confirmation), Re-import, Open original. Real engine, real files."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QToolButton

from tests.ui.helpers import all_ready, drop, row_for, rows
from ui import library_panel, main_window, source_viewer

IMPORT_MS = 120_000


def tool_button(window, action) -> QToolButton:  # type: ignore[no-untyped-def]
    return next(b for b in window.library.findChildren(QToolButton) if b.defaultAction() is action)


def select(window, *names: str) -> None:  # type: ignore[no-untyped-def]
    """Select the rows the user would click (Ctrl+click for more than one)."""
    view, model, proxy = window.library.view, window.library.model, window.library.proxy
    view.clearSelection()
    for name in names:
        doc = row_for(window, name)
        assert doc is not None, name
        idx = proxy.mapFromSource(model.index(model.row_of(doc.source)))
        view.selectionModel().select(idx, QItemSelectionModel.SelectionFlag.Select)
    view.setFocus()


@pytest.fixture
def library(qtbot, window, docs: Path):  # type: ignore[no-untyped-def]
    drop(window, sorted(docs.iterdir()))
    qtbot.waitUntil(lambda: all_ready(window, ["solar.md", "tea.md", "volcano.md"]), timeout=IMPORT_MS)
    qtbot.waitUntil(lambda: not window.jobs.isVisible(), timeout=IMPORT_MS)
    return window


def search(qtbot, window, query: str) -> list:  # type: ignore[no-untyped-def]
    """Real search through the window's engine, in a worker as the window does it."""
    got: list[list] = []
    window.services.call(lambda eng: eng.search(query, top_k=10), got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=IMPORT_MS)
    return got[0]


def test_add_files_through_the_picker(qtbot, window, docs: Path, monkeypatch) -> None:
    picked = [str(docs / "tea.md"), str(docs / "solar.md")]
    asked: list[str] = []

    def choose(cls, parent):  # type: ignore[no-untyped-def]
        asked.append("files")
        return picked

    monkeypatch.setattr(main_window.ChooseFiles, "ask", classmethod(choose))
    qtbot.mouseClick(window.import_bar.files_button, Qt.MouseButton.LeftButton)
    assert asked == ["files"]
    qtbot.waitUntil(lambda: all_ready(window, ["tea.md", "solar.md"]), timeout=IMPORT_MS)
    assert row_for(window, "volcano.md") is None, "only the picked files are imported"
    # Cancelling the picker imports nothing and says nothing alarming.
    monkeypatch.setattr(main_window.ChooseFiles, "ask", classmethod(lambda cls, parent: []))
    window.add_files_action.trigger()
    assert not window.jobs.isVisible()


def test_add_a_folder_through_the_picker(qtbot, window, docs: Path, monkeypatch) -> None:
    monkeypatch.setattr(main_window.ChooseFolder, "ask", classmethod(lambda cls, parent: str(docs)))
    window.add_folder_action.trigger()
    qtbot.waitUntil(lambda: all_ready(window, ["tea.md", "solar.md", "volcano.md"]), timeout=IMPORT_MS)


def test_remove_one_after_the_confirmation(qtbot, library, data_dir: Path, monkeypatch) -> None:
    w = library
    asked: list[str] = []
    answer = {"value": False}

    def confirm(cls, parent, title):  # type: ignore[no-untyped-def]
        asked.append(title)
        return answer["value"]

    monkeypatch.setattr(library_panel.ConfirmRemove, "ask", classmethod(confirm))
    select(w, "tea.md")
    button = tool_button(w, w.library.remove_action)
    assert button.isEnabled()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert asked == ["Green tea"], "the confirmation names the document"
    assert row_for(w, "tea.md") is not None, "Cancel keeps the document"

    answer["value"] = True
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: row_for(w, "tea.md") is None, timeout=IMPORT_MS)
    assert "Removed Green tea" in w.status_text.text()
    assert {Path(d.source).name for d in rows(w)} == {"solar.md", "volcano.md"}
    assert all(not h.source.endswith("tea.md") for h in search(qtbot, w, "Camellia sinensis leaves"))


def test_remove_several_with_the_delete_key(qtbot, library, data_dir: Path, monkeypatch) -> None:
    w = library
    asked: list[str] = []
    monkeypatch.setattr(library_panel.ConfirmRemove, "ask",
                        classmethod(lambda cls, parent, title: asked.append(title) or True))
    select(w, "tea.md", "volcano.md")
    assert len(w.library.selected()) == 2
    qtbot.keyClick(w.library.view, Qt.Key.Key_Delete)
    assert asked == ["2 documents"], "one confirmation for the whole selection"
    qtbot.waitUntil(lambda: [Path(d.source).name for d in rows(w)] == ["solar.md"], timeout=IMPORT_MS)
    qtbot.waitUntil(lambda: "Removed 2 documents" in w.status_text.text(), timeout=IMPORT_MS)
    hits = search(qtbot, w, "eruption ash cloud flights green tea")
    assert hits and all(h.source.endswith("solar.md") for h in hits)


def test_remove_from_the_context_menu_action(qtbot, library, monkeypatch) -> None:
    w = library
    monkeypatch.setattr(library_panel.ConfirmRemove, "ask", classmethod(lambda cls, parent, title: True))
    select(w, "solar.md")
    w.library.remove_action.trigger()
    qtbot.waitUntil(lambda: row_for(w, "solar.md") is None, timeout=IMPORT_MS)


def test_reimport_reads_the_changed_file(qtbot, library, docs: Path) -> None:
    w = library
    (docs / "tea.md").write_text("# Black tea\n\nBlack tea is fully oxidised; Assam is grown in India.\n",
                                 encoding="utf-8")
    select(w, "tea.md")
    qtbot.mouseClick(tool_button(w, w.library.reimport_action), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: (d := row_for(w, "tea.md")) is not None and d.title == "Black tea"
                    and d.status == "ready", timeout=IMPORT_MS)
    qtbot.waitUntil(lambda: "1 imported" in w.status_text.text(), timeout=IMPORT_MS)
    hits = search(qtbot, w, "Assam India")
    assert hits[0].source.endswith("tea.md") and "Assam" in hits[0].text


def test_open_original_from_the_library(qtbot, library, monkeypatch) -> None:
    w = library
    opened: list[str] = []
    monkeypatch.setattr(source_viewer, "open_url", lambda url: opened.append(url.toString()) or True)
    monkeypatch.setattr(main_window, "open_url", lambda url: opened.append(url.toString()) or True)
    select(w, "volcano.md")
    qtbot.mouseClick(tool_button(w, w.library.open_action), Qt.MouseButton.LeftButton)
    assert len(opened) == 1 and opened[0].startswith("file://") and opened[0].endswith("/volcano.md")
    # A double-click opens it too.
    doc = row_for(w, "volcano.md")
    assert doc is not None
    idx = w.library.proxy.mapFromSource(w.library.model.index(w.library.model.row_of(doc.source)))
    rect = w.library.view.visualRect(idx)
    qtbot.mouseClick(w.library.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(w.library.view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert len(opened) == 2 and opened[1] == opened[0]


def test_remove_a_failed_row(qtbot, window, tmp_path: Path, monkeypatch) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really a pdf \x00\x01")
    drop(window, [bad])
    qtbot.waitUntil(lambda: (d := row_for(window, "broken.pdf")) is not None and d.status == "failed",
                    timeout=IMPORT_MS)
    qtbot.waitUntil(lambda: not window.jobs.isVisible(), timeout=IMPORT_MS)
    monkeypatch.setattr(library_panel.ConfirmRemove, "ask", classmethod(lambda cls, parent, title: True))
    select(window, "broken.pdf")
    qtbot.keyClick(window.library.view, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: row_for(window, "broken.pdf") is None, timeout=IMPORT_MS)
    assert "Removed" in window.status_text.text()


def test_a_placeholder_title_shows_as_the_file_name(qtbot, window, tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = tmp_path / "Harbour survey.pdf"
    c = canvas.Canvas(str(pdf), pagesize=A4)
    c.setTitle("Microsoft Word - survey_v3_final.docx")
    c.drawString(72, 800, "Depths were measured at low tide along the harbour wall.")
    c.showPage()
    c.save()
    drop(window, [pdf])
    qtbot.waitUntil(lambda: all_ready(window, ["Harbour survey.pdf"]), timeout=IMPORT_MS)
    doc = row_for(window, "Harbour survey.pdf")
    assert doc is not None and doc.title == "Harbour survey"
    model = window.library.model
    assert model.data(model.index(model.row_of(doc.source))) == "Harbour survey"
    hit = search(qtbot, window, "harbour depths low tide")[0]
    assert hit.title == "Harbour survey", "search results and citations carry the same title"


def test_a_removal_during_a_listing_still_leaves_the_library(qtbot, library, monkeypatch) -> None:
    """A listing read before a removal but delivered after it must not bring the removed document
    back: the library lists itself once more."""
    w = library
    engine = w.services._engine
    read = threading.Event()
    gate = threading.Event()
    listed = engine.documents

    def slow_listing():  # type: ignore[no-untyped-def]
        docs = listed()
        if not gate.is_set():  # only the first listing is held back, after it has read the library
            read.set()
            gate.wait(IMPORT_MS / 1000)
        return docs

    monkeypatch.setattr(engine, "documents", slow_listing)
    monkeypatch.setattr(library_panel.ConfirmRemove, "ask", classmethod(lambda cls, parent, title: True))
    w.refresh_library()
    qtbot.waitUntil(read.is_set, timeout=IMPORT_MS)
    select(w, "tea.md")
    w.library.remove_action.trigger()
    qtbot.waitUntil(lambda: "Removed Green tea" in w.status_text.text(), timeout=IMPORT_MS)
    gate.set()  # the stale listing (tea.md still in it) arrives now
    qtbot.waitUntil(lambda: row_for(w, "tea.md") is None, timeout=IMPORT_MS)
    assert {Path(d.source).name for d in rows(w)} == {"solar.md", "volcano.md"}
