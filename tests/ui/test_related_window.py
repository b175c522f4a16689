"""Selecting a document shows the documents most like it; a click on one selects it."""

from __future__ import annotations

from pathlib import Path

from tests.core.test_related import ARTICLES
from tests.ui.helpers import all_ready, drop


def test_selecting_a_document_lists_its_relatives(qtbot, window, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in ARTICLES.items():
        (docs / name).write_text(text, encoding="utf-8")
    drop(window, [docs])
    names = list(ARTICLES)
    qtbot.waitUntil(lambda: all_ready(window, names), timeout=120_000)
    panel = window.library
    panel.select_source(str(docs / "volcano-1.md"))
    related = panel.related
    qtbot.waitUntil(lambda: related.isVisible() and related.list.count() > 0, timeout=20_000)
    assert "Volcanoes" in related.title.text()
    first = related.list.item(0)
    assert Path(first.data(0x0100)).name == "volcano-2.md"
    rect = related.list.visualItemRect(first)
    from PySide6.QtCore import Qt

    qtbot.mouseClick(related.list.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.waitUntil(lambda: [Path(d.source).name for d in panel.selected()] == ["volcano-2.md"], timeout=5_000)
