"""What the source viewer shows of a cited document: a PDF page with the passage marked, or the
whole stored text of any other document with the passage's place in it.

PDF pages are drawn by PDFium (``pypdfium2``), the same library that read the text. A passage
stores its PDFium char range on its page (``page_start``/``page_end``, see ``core.ingest.pdf``),
so its highlight comes straight from PDFium's text rectangles for that range, no text search. A
citation whose chunk is gone (the document was re-imported) has only its text: then the text is
looked for on the page, ignoring differences in white space.

Nothing here imports Qt: a page is returned as raw RGB bytes plus rectangles in those pixels,
and the desktop layer wraps the bytes in a ``QImage``. PDFium is not thread-safe, so every call
holds the reader's lock (``core.ingest.pdf._LOCK``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.errors import LoadError
from core.ingest import pdf as pdf_reader

log = logging.getLogger(__name__)

MIN_SCALE = 0.25
MAX_SCALE = 8.0
MAX_PIXELS = 40_000_000  # a huge page at a high zoom would need gigabytes: the scale is capped instead
PAD_PT = 1.5  # highlight rectangles reach a little past the glyphs, as a marker pen does
#: A whole text larger than this is shown as a window around the passage (a widget holding tens of
#: megabytes of text lays it out for seconds).
MAX_TEXT_CHARS = 400_000

Rect = tuple[float, float, float, float]  # left, top, right, bottom in image pixels


@dataclass(frozen=True)
class RenderedPage:
    """One page drawn at ``scale`` pixels per PDF point, and the passage's rectangles in it."""

    source: str
    page: int  # 1-based
    pages: int  # how many pages the document has
    scale: float
    width: int
    height: int
    stride: int
    pixels: bytes = field(repr=False)  # RGB, 3 bytes a pixel, ``stride`` bytes a row
    boxes: tuple[Rect, ...] = ()  # the highlight, empty when the passage is not on this page
    page_width_pt: float = 0.0
    page_height_pt: float = 0.0
    char_range: tuple[int, int] | None = None  # the PDFium char range that ``boxes`` mark


def clamp_scale(scale: float, width_pt: float, height_pt: float) -> float:
    scale = min(max(scale, MIN_SCALE), MAX_SCALE)
    area = max(width_pt * height_pt, 1.0)
    if area * scale * scale > MAX_PIXELS:
        scale = (MAX_PIXELS / area) ** 0.5
    return scale


def find_passage(text: str, passage: str) -> tuple[int, int] | None:
    """Where ``passage`` occurs in ``text`` when white space may differ (line breaks, the spaces
    PDFium generates between words): the words in order, any run of white space between them."""
    words = passage.split()
    if not words:
        return None
    at = text.find(passage)
    if at >= 0:
        return at, at + len(passage)
    m = re.search(r"\s+".join(re.escape(w) for w in words), text)
    if m is None and len(words) > 1:
        # PDFium may drop the space where a line ends in a hyphen or a word is split by a box.
        m = re.search(r"\s*".join(re.escape(w) for w in words), text)
    return (m.start(), m.end()) if m else None


def _rects(page: Any, textpage: Any, bitmap: Any, start: int, end: int) -> tuple[Rect, ...]:
    """PDFium's own rectangles for a char range (one per line or text run), mapped to the bitmap
    through the same transform the render used, so rotated and cropped pages line up too."""
    n = textpage.count_chars()
    start, end = max(0, start), min(end, n)
    if end <= start:
        return ()
    conv = bitmap.get_posconv(page)
    out: list[Rect] = []
    for i in range(textpage.count_rects(start, end - start)):
        left, bottom, right, top = textpage.get_rect(i)
        if right - left <= 0 or top - bottom <= 0:
            continue
        x0, y0 = conv.to_bitmap(left - PAD_PT, bottom - PAD_PT)
        x1, y1 = conv.to_bitmap(right + PAD_PT, top + PAD_PT)
        out.append((float(min(x0, x1)), float(min(y0, y1)), float(max(x0, x1)), float(max(y0, y1))))
    return tuple(out)


def page_count(path: str | Path) -> int:
    with pdf_reader._LOCK:
        document = _open(path)
        try:
            return len(document)
        finally:
            document.close()


def _open(path: str | Path) -> Any:
    source = str(path)
    if not Path(path).is_file():
        raise LoadError(source, "the file is no longer there (moved or deleted since it was imported)")
    # A path, not a stream: PDFium then reads the file itself, and closing the document closes it.
    return pdf_reader._open(source, source)  # type: ignore[arg-type]


def render_page(path: str | Path, page: int, *, scale: float | None = None, fit_width: int | None = None,
                char_range: tuple[int, int] | None = None, passage: str = "") -> RenderedPage:
    """Draw page ``page`` (1-based) and mark ``char_range`` on it (PDFium char indices of that
    page). With ``passage`` too, the range is checked against the page's text and, where the
    text there differs (the file changed) or there is no range, the passage is looked for.

    ``fit_width`` (pixels) picks the scale that makes the page that wide; ``scale`` wins if given.
    A page number past the end shows the last page, before the first the first one.
    """
    import pypdfium2 as pdfium

    source = str(path)
    with pdf_reader._LOCK:
        document = _open(path)
        try:
            count = len(document)
            number = min(max(int(page), 1), count)
            try:
                pdf_page = document.get_page(number - 1)
            except pdfium.PdfiumError as exc:
                raise LoadError(source, f"page {number} cannot be read (PDFium: {exc})") from None
            try:
                width_pt, height_pt = pdf_page.get_size()  # as displayed: /Rotate already applied
                if scale is None:
                    scale = (fit_width / width_pt) if fit_width and width_pt > 0 else 96 / 72
                scale = clamp_scale(scale, width_pt, height_pt)
                bitmap = pdf_page.render(scale=scale, rev_byteorder=True, prefer_bgrx=False)
                try:
                    boxes: tuple[Rect, ...] = ()
                    marked: tuple[int, int] | None = None
                    if char_range is not None or passage.strip():
                        textpage = pdf_page.get_textpage()
                        try:
                            marked = char_range
                            if passage.strip():
                                text = pdf_reader.page_text(textpage)
                                # A file changed since it was imported has other text at the range.
                                if marked is None or text[marked[0]:marked[1]] != passage:
                                    marked = find_passage(text, passage)
                            if marked is not None:
                                boxes = _rects(pdf_page, textpage, bitmap, *marked)
                        finally:
                            textpage.close()
                    pixels = bytes(bitmap.buffer)
                    rendered = RenderedPage(
                        source=source, page=number, pages=count, scale=scale, width=bitmap.width,
                        height=bitmap.height, stride=bitmap.stride, pixels=pixels, boxes=boxes,
                        page_width_pt=width_pt, page_height_pt=height_pt, char_range=marked)
                finally:
                    bitmap.close()
            finally:
                pdf_page.close()
        finally:
            document.close()
    log.debug("page rendered source=%s page=%d scale=%.2f boxes=%d", source, number, scale, len(boxes))
    return rendered


# -- whole text of other documents ---------------------------------------------------------------


@dataclass(frozen=True)
class DocumentText:
    """A document's stored text rebuilt from its chunks, and where the passage is in it.

    ``start``/``end`` index ``text``; ``-1`` when the passage was not found (then only the text is
    shown). ``clipped`` says the text is a window around the passage, not the whole document.
    """

    text: str
    start: int
    end: int
    clipped: bool = False


def document_text(chunks: Sequence[Any], passage_start: int | None = None, passage_end: int | None = None,
                  passage: str = "", max_chars: int = MAX_TEXT_CHARS) -> DocumentText:
    """Join chunks (in reading order, each ``text == extracted[start:end]``) into the document's
    text, dropping the part each overlaps the one before, with a paragraph break where a gap
    between two chunks held only white space that no chunk kept.

    The passage is placed by its offsets in the extracted text when given (``passage_start`` to
    ``passage_end``), else by finding ``passage`` (a snapshot whose chunk is gone).
    """
    parts: list[str] = []
    segments: list[tuple[int, int, int]] = []  # extracted start, extracted end, output start
    pos = -1  # extracted offset the output has reached
    out_len = 0
    for c in chunks:
        text, start = str(c.text), int(c.start)
        end = start + len(text)
        if pos >= 0 and end <= pos:
            continue
        if pos >= 0 and start < pos:
            text, start = text[pos - start:], pos
        elif pos >= 0 and start > pos:
            parts.append("\n\n")
            out_len += 2
        segments.append((start, end, out_len))
        parts.append(text)
        out_len += len(text)
        pos = end
    full = "".join(parts)

    def out_at(offset: int) -> int | None:
        for s, e, o in segments:
            if s <= offset <= e:
                return o + offset - s
        return None

    a = b = None
    if passage_start is not None and passage_end is not None:
        a, b = out_at(passage_start), out_at(passage_end)
        if a is not None and b is not None and passage and full[a:b] != passage:
            a = b = None  # offsets from another version of the document
    if (a is None or b is None) and passage:
        found = find_passage(full, passage)
        a, b = found if found else (None, None)
    if a is None or b is None or b < a:
        return _clip(full, -1, -1, max_chars)
    return _clip(full, a, b, max_chars)


def _clip(text: str, start: int, end: int, max_chars: int) -> DocumentText:
    if len(text) <= max_chars:
        return DocumentText(text, start, end)
    centre = (start + end) // 2 if start >= 0 else 0
    lo = max(0, min(centre - max_chars // 2, len(text) - max_chars))
    hi = lo + max_chars
    if start >= 0:
        lo, hi = min(lo, start), max(hi, end)
    # Cut at paragraph breaks where there is one near, so the window does not start mid-word.
    cut = text.rfind("\n\n", max(0, lo - 2000), lo)
    lo = cut + 2 if cut >= 0 and lo > 0 else lo
    cut = text.find("\n\n", hi, hi + 2000)
    hi = cut if cut >= 0 else hi
    shift = lo
    return DocumentText(text[lo:hi], start - shift if start >= 0 else -1, end - shift if start >= 0 else -1,
                        clipped=True)
