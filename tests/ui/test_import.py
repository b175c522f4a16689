"""Getting content in: drop files, paste a link, see failures with their reason, cancel."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication

from tests.ui.helpers import all_ready, drop, row_for, rows

IMPORT_TIMEOUT_MS = 120_000


def test_drop_files_rows_appear_and_reach_ready(qtbot, window, docs: Path) -> None:
    files = sorted(docs.iterdir())
    drop(window, files)
    # Rows appear while importing (progress shown per job), then all reach ready.
    qtbot.waitUntil(lambda: len(rows(window)) >= 1, timeout=IMPORT_TIMEOUT_MS)
    names = [f.name for f in files]
    qtbot.waitUntil(lambda: all_ready(window, names), timeout=IMPORT_TIMEOUT_MS)
    solar = row_for(window, "solar.md")
    assert solar is not None and solar.title == "Solar power" and solar.chunks >= 1
    assert solar.kind == "markdown"
    qtbot.waitUntil(lambda: not window.jobs.isVisible(), timeout=IMPORT_TIMEOUT_MS)
    assert "3 imported" in window.status_text.text()
    # The library is no longer empty, so the chat's empty state invites a question.
    assert "Ask a question" in window.chat.empty_title.text()


def test_bad_file_shows_its_reason_in_the_list(qtbot, window, tmp_path: Path) -> None:
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 this is not really a pdf \x00\x01\x02")
    good = tmp_path / "fine.txt"
    good.write_text("A perfectly readable note about tide pools and anemones.", encoding="utf-8")
    drop(window, [bad, good])
    qtbot.waitUntil(lambda: (d := row_for(window, "broken.pdf")) is not None and d.status == "failed",
                    timeout=IMPORT_TIMEOUT_MS)
    qtbot.waitUntil(lambda: all_ready(window, ["fine.txt"]), timeout=IMPORT_TIMEOUT_MS)
    failed = row_for(window, "broken.pdf")
    assert failed is not None
    assert "broken.pdf" in failed.error and ":" in failed.error  # names the item and the reason
    # The reason is on screen (the row grows a third line), and in the tooltip.
    model = window.library.model
    idx = model.index(model.row_of(failed.source))
    assert failed.error in model.data(idx, Qt.ItemDataRole.ToolTipRole)
    qtbot.waitUntil(lambda: not window.jobs.isVisible(), timeout=IMPORT_TIMEOUT_MS)
    assert "1 failed" in window.status_text.text() and "broken.pdf" in window.status_text.text()


def test_paste_a_link_into_the_empty_chat_box_imports_the_page(qtbot, window, http_server) -> None:
    http_server.route("/tides.html", body="<html><head><title>Tide pools</title></head><body><h1>Tide pools</h1>"
                      "<p>Tide pools are rocky pools on the shore, filled by the sea at high tide. Anemones, "
                      "crabs and starfish live in them.</p></body></html>")
    url = http_server.url("/tides.html")
    QGuiApplication.clipboard().setText(url)
    window.chat.input.setFocus()
    qtbot.keyClick(window.chat.input, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert window.chat.input.toPlainText() == ""  # the link was imported, not pasted as a question
    qtbot.waitUntil(lambda: (d := row_for(window, "/tides.html")) is not None and d.status == "ready",
                    timeout=IMPORT_TIMEOUT_MS)
    assert row_for(window, "/tides.html").title == "Tide pools"  # type: ignore[union-attr]
    assert http_server.hits("/tides.html") == 1


def test_url_field_with_crawl_options(qtbot, window, http_server) -> None:
    http_server.route("/", body="<html><head><title>Home</title></head><body><p>The home page of a small site "
                      "about gardening and compost.</p><a href='/compost.html'>compost</a></body></html>")
    http_server.route("/compost.html", body="<html><head><title>Compost</title></head><body><p>Compost is decayed "
                      "organic matter used to feed soil.</p></body></html>")
    qtbot.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier)
    assert window.import_bar.url.hasFocus()
    window.import_bar.crawl.setChecked(True)
    window.import_bar.depth_box.setValue(1)
    window.import_bar.max_pages.setValue(5)
    qtbot.keyClicks(window.import_bar.url, http_server.url("/"))
    qtbot.keyClick(window.import_bar.url, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: (d := row_for(window, "/compost.html")) is not None and d.status == "ready",
                    timeout=IMPORT_TIMEOUT_MS)


def test_cancel_an_import(qtbot, window, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(30):
        (folder / f"note{i:02d}.txt").write_text(f"Note {i}. " + "Words about rivers and boats. " * 200,
                                                encoding="utf-8")
    drop(window, [folder])
    qtbot.waitUntil(lambda: bool(window.jobs.rows), timeout=10_000)
    row = next(iter(window.jobs.rows.values()))
    qtbot.waitUntil(lambda: len(rows(window)) >= 1, timeout=IMPORT_TIMEOUT_MS)
    qtbot.mouseClick(row.cancel, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not window.jobs.rows, timeout=30_000)
    assert "cancelled" in window.status_text.text().lower()
    assert sum(1 for d in rows(window) if d.status == "ready") < 30
