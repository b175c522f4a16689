"""The cited passage on its page: a PDF citation shows the page PDFium draws with the passage's
characters marked (checked against PDFium's own character boxes), with zoom, previous/next and
"Open in system viewer"; a text source shows the whole document scrolled to the highlighted
passage. Real engine, real files (a reportlab PDF, Markdown), real HTTP server for a web page."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from desktop.services import CitationView, citation_from
from tests.core.fixtures import make_pdf
from tests.ui.helpers import all_ready, drop, row_for
from ui import page_view

IMPORT_MS = 120_000
PAGES = 3
LINES = 36


def pdf_pages() -> list[str]:
    """Pages long enough to hold several passages each, every line's words its own."""
    pages = []
    for p in range(1, PAGES + 1):
        lines = [f"Page {p} line {n} tells of harbour{p}x{n} tides, lanterns{n} and gulls over the quay wall."
                 for n in range(1, LINES + 1)]
        pages.append("\n".join(lines))
    return pages


def markdown_text() -> str:
    parts = ["# Rivers of the north\n"]
    for n in range(1, 61):
        parts.append(f"## Reach {n}\n\nThe river bends near mill{n} where the ferry{n} crossed before the bridge "
                     f"was built; fishermen counted salmon{n} there each spring and wrote the numbers down.\n")
    return "\n".join(parts)


@pytest.fixture
def library(qtbot, window, tmp_path: Path):  # type: ignore[no-untyped-def]
    folder = tmp_path / "sources"
    folder.mkdir()
    make_pdf(folder / "harbour.pdf", pdf_pages())
    (folder / "rivers.md").write_text(markdown_text(), encoding="utf-8")
    drop(window, sorted(folder.iterdir()))
    qtbot.waitUntil(lambda: all_ready(window, ["harbour.pdf", "rivers.md"]), timeout=IMPORT_MS)
    qtbot.waitUntil(lambda: not window.jobs.isVisible(), timeout=IMPORT_MS)
    window.resize(1400, 900)
    return window


def chunks_of(qtbot, window, name: str) -> list:  # type: ignore[no-untyped-def]
    doc = row_for(window, name)
    assert doc is not None
    got: list[list] = []
    window.services.call(lambda eng: eng.document_chunks(doc.id), got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=IMPORT_MS)
    return got[0]


def cite(qtbot, window, hit) -> CitationView:  # type: ignore[no-untyped-def]
    """What a click on citation [1] does: the window's show_citation, then wait for the view."""
    c = citation_from(hit, 1)
    with qtbot.waitSignal(window.viewer.source_shown, timeout=IMPORT_MS):
        window.show_citation(c)
    return c


def pdfium_char_boxes(path: Path, page: int, scale: float) -> tuple[str, list[tuple[float, float, float, float]]]:
    """PDFium's own text and tight char boxes of a page, in pixels of a render at ``scale``
    (reportlab pages: no rotation, the crop box at the origin)."""
    import pypdfium2 as pdfium

    from core.ingest.pdf import page_text

    doc = pdfium.PdfDocument(str(path))
    try:
        pg = doc[page - 1]
        assert pg.get_rotation() == 0 and tuple(pg.get_cropbox())[:2] == (0, 0)
        height = pg.get_height()
        tp = pg.get_textpage()
        text = page_text(tp)
        boxes = []
        for i in range(len(text)):
            left, bottom, right, top = tp.get_charbox(i)
            boxes.append((left * scale, (height - top) * scale, right * scale, (height - bottom) * scale))
        tp.close()
        pg.close()
    finally:
        doc.close()
    return text, boxes


def inside(box: tuple[float, ...], rect: tuple[float, ...], slack: float = 1.0) -> bool:
    return (box[0] >= rect[0] - slack and box[1] >= rect[1] - slack
            and box[2] <= rect[2] + slack and box[3] <= rect[3] + slack)


def centre_in(box: tuple[float, ...], rect: tuple[float, ...]) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return rect[0] <= cx <= rect[2] and rect[1] <= cy <= rect[3]


def check_marked(path: Path, view, hit) -> None:  # type: ignore[no-untyped-def]
    """Every visible character of the passage is inside a highlight rectangle; no other character
    of the page is; and each rectangle has ink under it in the drawn image."""
    text, boxes = pdfium_char_boxes(path, view.page, view.scale)
    rects = view.boxes
    assert rects, "the passage is marked"
    assert text[hit.page_start:hit.page_end] == hit.text, "the stored range is the passage's PDFium chars"
    for i in range(len(text)):
        if text[i].isspace() or boxes[i][2] <= boxes[i][0]:
            continue
        covered = any(inside(boxes[i], r) for r in rects)
        if hit.page_start <= i < hit.page_end:
            assert covered, f"char {i} {text[i]!r} of the passage is not marked"
        else:
            assert not any(centre_in(boxes[i], r) for r in rects), f"char {i} {text[i]!r} outside it is marked"
    image = view.image
    for x0, y0, x1, y1 in rects:
        dark = sum(1 for x in range(int(x0), int(x1), 2) for y in range(int(y0), int(y1), 2)
                   if image.pixelColor(x, y).lightness() < 128)
        assert dark > 0, "a rectangle lies over the glyphs in the drawn page"


def passage_in_sight(pv) -> bool:  # type: ignore[no-untyped-def]
    boxes = pv.canvas.logical_boxes()
    bars = pv.scroller.horizontalScrollBar(), pv.scroller.verticalScrollBar()
    shown = pv.scroller.viewport().rect().translated(bars[0].value(), bars[1].value())
    return bool(boxes) and shown.contains(boxes[0].center().toPoint())


def test_pdf_citation_shows_the_page_with_the_passage_marked(qtbot, library, tmp_path, monkeypatch) -> None:
    w = library
    path = tmp_path / "sources" / "harbour.pdf"
    chunks = chunks_of(qtbot, w, "harbour.pdf")
    # A passage in the middle of page 2: other text above it on the same page, and pages on each side.
    on_two = [h for h in chunks if h.page == 2]
    assert len(on_two) >= 2, "page 2 holds several passages"
    hit = next(h for h in on_two if h.page_start > 0)
    cite(qtbot, w, hit)
    viewer, pv = w.viewer, w.viewer.page_view
    assert viewer.isVisible() and viewer.stack.currentWidget() is pv and pv.isVisible()
    view = pv.current
    assert view is not None and view.page == 2 and view.pages == PAGES
    assert pv.page_label.text() == "Page 2 of 3"
    assert view.char_range == (hit.page_start, hit.page_end)
    check_marked(path, view, hit)
    # The page fills the pane's width (drawn again if the pane was still opening), the marked
    # passage in sight.
    qtbot.waitUntil(lambda: abs(pv.current.image.width() - pv.fit_width()) <= 0.05 * pv.fit_width(),
                    timeout=IMPORT_MS)
    qtbot.waitUntil(lambda: passage_in_sight(pv), timeout=5_000)
    view = pv.current
    check_marked(path, view, hit)

    # Next page: page 3, nothing marked; back: page 2 marked again.
    with qtbot.waitSignal(pv.rendered, timeout=IMPORT_MS):
        qtbot.mouseClick(pv.next_button, Qt.MouseButton.LeftButton)
    assert pv.current.page == 3 and not pv.current.boxes and not pv.next_button.isEnabled()
    with qtbot.waitSignal(pv.rendered, timeout=IMPORT_MS):
        qtbot.mouseClick(pv.prev_button, Qt.MouseButton.LeftButton)
    assert pv.current.page == 2
    check_marked(path, pv.current, hit)

    # Ctrl++ draws the page larger, the marks follow; Ctrl+- smaller.
    before = pv.current.scale
    with qtbot.waitSignal(pv.rendered, timeout=IMPORT_MS):
        qtbot.keyClick(pv.scroller, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert pv.current.scale == pytest.approx(before * page_view.ZOOM_STEP, rel=0.01)
    assert pv.current.image.width() > view.image.width() and not pv.fitting
    check_marked(path, pv.current, hit)
    with qtbot.waitSignal(pv.rendered, timeout=IMPORT_MS):
        qtbot.keyClick(pv.scroller, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    with qtbot.waitSignal(pv.rendered, timeout=IMPORT_MS):
        qtbot.keyClick(pv.scroller, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert pv.current.scale == pytest.approx(before / page_view.ZOOM_STEP, rel=0.01)
    check_marked(path, pv.current, hit)

    opened: list[str] = []
    monkeypatch.setattr(page_view, "open_file", lambda url: opened.append(url.toLocalFile()) or True)
    qtbot.mouseClick(pv.system_button, Qt.MouseButton.LeftButton)
    assert opened == [str(path)]
    assert "page 2" in w.status_text.text()

    # "Text" shows the whole stored text with the same passage highlighted.
    qtbot.mouseClick(viewer.text_mode, Qt.MouseButton.LeftButton)
    assert viewer.stack.currentWidget() is viewer.text
    assert viewer.highlighted_text() == hit.text.replace("\r\n", " \n")
    assert "Page 1 line 1 " in viewer.displayed_text() and f"Page {PAGES} line {LINES} " in viewer.displayed_text()


def test_a_pdf_gone_from_disk_shows_the_stored_text_and_says_why(qtbot, library, tmp_path) -> None:
    w = library
    path = tmp_path / "sources" / "harbour.pdf"
    hit = next(h for h in chunks_of(qtbot, w, "harbour.pdf") if h.page == 3)
    path.unlink()
    cite(qtbot, w, hit)
    viewer = w.viewer
    assert viewer.stack.currentWidget() is viewer.text and not viewer.page_mode.isVisible()
    assert viewer.note.isVisible() and str(path) in viewer.note.text() and "no longer there" in viewer.note.text()
    assert viewer.highlighted_text() == hit.text.replace("\r\n", " \n")
    qtbot.waitUntil(viewer.passage_visible, timeout=5_000)


def test_text_source_shows_the_whole_document_scrolled_to_the_passage(qtbot, library) -> None:
    w = library
    chunks = chunks_of(qtbot, w, "rivers.md")
    assert len(chunks) >= 6, "a document of many passages"
    hit = chunks[-2]  # far down the document
    cite(qtbot, w, hit)
    viewer = w.viewer
    assert viewer.stack.currentWidget() is viewer.text and not viewer.page_mode.isVisible()
    shown = viewer.displayed_text()
    assert "Rivers of the north" in shown and "salmon1 " in shown and "salmon60 " in shown, "the whole document"
    assert shown.count("mill30 ") == 1, "overlapping passages are joined without repeats"
    assert viewer.highlighted_text() == hit.text
    qtbot.waitUntil(viewer.passage_visible, timeout=5_000)
    assert viewer.text.verticalScrollBar().value() > 0, "scrolled down to it"
    # Another citation of the same document, near its start, scrolls back up to that passage.
    cite(qtbot, w, chunks[1])
    assert viewer.highlighted_text() == chunks[1].text
    qtbot.waitUntil(viewer.passage_visible, timeout=5_000)


def test_web_page_shows_stored_text_and_a_link_to_the_live_page(qtbot, window, http_server, monkeypatch) -> None:
    body = "".join(f"<p>Paragraph {n} of the lighthouse log notes beacon{n} and keeper{n} at dusk.</p>"
                   for n in range(1, 80))
    http_server.route("/log", body=f"<html><head><title>Lighthouse log</title></head><body>{body}</body></html>")
    url = http_server.url("/log")
    job = window.services.import_sources([url])
    with qtbot.waitSignal(job.finished, timeout=IMPORT_MS):
        pass

    def imported():  # type: ignore[no-untyped-def]
        return next((d for d in window.library.model.documents() if d.source.startswith(url)
                     and d.status == "ready"), None)

    qtbot.waitUntil(lambda: imported() is not None, timeout=IMPORT_MS)
    doc = imported()
    got: list[list] = []
    window.services.call(lambda eng: eng.document_chunks(doc.id), got.append)
    qtbot.waitUntil(lambda: bool(got), timeout=IMPORT_MS)
    hit = got[0][-1]
    cite(qtbot, window, hit)
    viewer = window.viewer
    assert viewer.live_link.isVisible() and doc.source in viewer.live_link.text()
    assert viewer.highlighted_text() == hit.text and "Paragraph 1 " in viewer.displayed_text()
    qtbot.waitUntil(viewer.passage_visible, timeout=5_000)
    opened: list[str] = []
    from ui import source_viewer

    monkeypatch.setattr(source_viewer, "open_url", lambda u: opened.append(u.toString()) or True)
    viewer.live_link.linkActivated.emit(doc.source)
    assert opened and opened[0].startswith(doc.source)
