"""core.pageview without Qt: pages drawn by PDFium with a passage marked (rotated pages too), the
errors a reader sees, and a document's text rebuilt from overlapping chunks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from core import pageview
from core.errors import LoadError
from core.ingest.pdf import page_text
from tests.core.fixtures import make_pdf


def ink_under(r: pageview.RenderedPage, rect: pageview.Rect) -> int:
    """Dark pixels of the drawn page inside ``rect`` (RGB rows of ``stride`` bytes)."""
    x0, y0, x1, y1 = (int(v) for v in rect)
    dark = 0
    for y in range(max(0, y0), min(r.height, y1)):
        row = r.pixels[y * r.stride: y * r.stride + r.width * 3]
        for x in range(max(0, x0), min(r.width, x1)):
            if sum(row[3 * x: 3 * x + 3]) < 3 * 128:
                dark += 1
    return dark


def rotated_pdf(path: Path, rotation: int) -> Path:
    """An A4 page of twenty lines, shown turned by ``rotation`` degrees (the page's /Rotate)."""
    from pypdf import PdfReader, PdfWriter

    make_pdf(path, ["\n".join(f"Line {n} of the rotated ledger, entry{n} for the spring tides."
                              for n in range(1, 21))])
    writer = PdfWriter(clone_from=PdfReader(str(path)))
    writer.pages[0].rotate(rotation)
    with path.open("wb") as fh:
        writer.write(fh)
    return path


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_marks_lie_over_the_passage_glyphs_on_any_rotation(tmp_path: Path, rotation: int) -> None:
    path = rotated_pdf(tmp_path / f"r{rotation}.pdf", rotation)
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    text = page_text(doc[0].get_textpage())
    doc.close()
    line = "Line 7 of the rotated ledger, entry7 for the spring tides."
    start = text.index(line)
    end = start + len(line)
    r = pageview.render_page(path, 1, scale=1.5, char_range=(start, end), passage=line)
    assert r.char_range == (start, end) and len(r.boxes) == 1, "one line, one rectangle"
    portrait = r.height > r.width
    assert portrait == (rotation in (0, 180))
    page_ink = ink_under(r, (0, 0, r.width, r.height))
    marked = sum(ink_under(r, b) for b in r.boxes)
    # One line of twenty holds about a twentieth of the ink: the mark sits on its glyphs, not beside them.
    assert 0.03 * page_ink < marked < 0.08 * page_ink
    for b in r.boxes:
        long_side = max(b[2] - b[0], b[3] - b[1])
        short_side = min(b[2] - b[0], b[3] - b[1])
        assert long_side > 5 * short_side, "a line of text: long along the line, one line high"
        assert (b[2] - b[0] > b[3] - b[1]) == (rotation in (0, 180)), "lines run across the page as drawn"


def test_without_a_range_the_passage_is_found_despite_white_space(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", ["first line of words\nthe passage starts here\nand ends on this line"])
    r = pageview.render_page(path, 1, fit_width=600, passage="passage starts   here and ends")
    assert r.char_range is not None and len(r.boxes) == 2
    assert r.width == 600


def test_a_range_that_no_longer_holds_the_passage_is_corrected(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "a.pdf", ["alpha beta gamma\ndelta epsilon zeta"])
    r = pageview.render_page(path, 1, scale=1.0, char_range=(0, 5), passage="epsilon")
    assert r.char_range is not None and r.char_range != (0, 5)
    r = pageview.render_page(path, 1, scale=1.0, char_range=(0, 5), passage="not on this page at all")
    assert r.char_range is None and r.boxes == ()


def test_page_numbers_are_clamped_and_errors_name_the_file(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "two.pdf", ["one", "two"])
    assert pageview.render_page(path, 9, scale=0.5).page == 2
    assert pageview.render_page(path, 0, scale=0.5).page == 1
    with pytest.raises(LoadError, match=r"gone\.pdf: the file is no longer there"):
        pageview.render_page(tmp_path / "gone.pdf", 1)
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 not a pdf")
    with pytest.raises(LoadError, match=r"bad\.pdf: .*damaged"):
        pageview.render_page(bad, 1)
    locked = make_pdf(tmp_path / "locked.pdf", ["secret"], password="pw")
    with pytest.raises(LoadError, match=r"locked\.pdf: .*encrypted"):
        pageview.render_page(locked, 1)


def test_a_huge_zoom_is_capped_not_allocated() -> None:
    scale = pageview.clamp_scale(8.0, 14400, 14400)  # the largest page PDF allows
    assert 14400 * 14400 * scale * scale <= pageview.MAX_PIXELS * 1.001


@dataclass
class Piece:
    text: str
    start: int
    end: int


def pieces(full: str, spans: list[tuple[int, int]]) -> list[Piece]:
    return [Piece(full[a:b], a, b) for a, b in spans]


def test_document_text_joins_overlapping_chunks_once() -> None:
    full = "Alpha beta gamma delta.\n\nEpsilon zeta eta theta.\n\n   \n\nIota kappa lambda."
    a = full.index("Epsilon")
    b = full.index("Iota")
    chunks = pieces(full, [(0, 23), (11, a + 23), (a, a + 23), (b, len(full))])
    dt = pageview.document_text(chunks, a, a + 23, passage=full[a:a + 23])
    assert dt.text == "Alpha beta gamma delta.\n\nEpsilon zeta eta theta.\n\nIota kappa lambda."
    assert dt.text[dt.start:dt.end] == "Epsilon zeta eta theta." and not dt.clipped


def test_document_text_finds_a_snapshot_and_clips_long_texts() -> None:
    paras = [f"Paragraph {n} about the weir{n} and its keeper." for n in range(20_000)]
    full = "\n\n".join(paras)
    spans, pos = [], 0
    for p in paras:
        spans.append((pos, pos + len(p)))
        pos += len(p) + 2
    chunks = pieces(full, spans)
    # Only the text is known (a citation whose chunk was replaced): found anyway.
    dt = pageview.document_text(chunks, passage="Paragraph 15000 about the weir15000 and its keeper.",
                                max_chars=50_000)
    assert dt.clipped and len(dt.text) < 60_000
    assert dt.text[dt.start:dt.end] == "Paragraph 15000 about the weir15000 and its keeper."
    assert dt.text.startswith("Paragraph "), "the window starts at a paragraph"
    gone = pageview.document_text(chunks, passage="a sentence the document never had")
    assert gone.start == -1
