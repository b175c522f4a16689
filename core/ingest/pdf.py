"""Read PDFs with PDFium (``pypdfium2``), keeping PDFium's own character indices.

The text of a page is PDFium's character list for that page, one character of ``Extracted.text``
per PDFium character index: for a page that starts at offset ``o`` (``Extracted.pages`` holds
``(o, page number)``), ``text[o + i]`` stands for char index ``i`` of that page's text page, the
index that ``PdfTextPage.get_charbox(i)`` takes. A later page view can therefore turn a chunk's
page-local range ``start - o .. end - o`` into character boxes without searching.

Why not ``get_text_range()``: ``FPDFText_GetText`` works in *text* indices, which drop some
characters of the char list (control characters get text index -1) and may reorder others, so
its output does not line up with char indices. Each character is read with
``FPDFText_GetUnicode`` instead, and mapped one to one:

* characters as PDFium reports them, including the ``\\r\\n`` pairs and spaces it generates
  between lines and words (two characters each: ``\\r`` then ``\\n``), and each letter of a
  ligature PDFium splits (one char index per letter);
* a character outside the Basic Multilingual Plane, which PDFium reports as two char indices (a
  UTF-16 surrogate pair with the same box), becomes the real character at the first index and
  U+2060 WORD JOINER (invisible) at the second, so the text stays valid Unicode and one-to-one;
  a lone surrogate becomes U+FFFD;
* a glyph with no Unicode value (0) and the non-characters U+FFFE/U+FFFF become U+FFFD;
* other control characters (C0 except tab, line feed and carriage return; C1) become a space.

Pages are joined with ``"\\n\\n"``; a page with no text (only whitespace) contributes nothing and
has no entry in ``pages``. Nothing is stripped from a page that contributes text.

One ctypes call per character costs about 0.7 microseconds: a 200-page book reads in 3x the time
of raw ``get_text_range()`` (tests/bench/readers_bench.py), the price of exact char indices.

PDFium is not thread-safe, so every use of it here holds one lock.
"""

from __future__ import annotations

import logging
import re
import threading
from itertools import repeat
from typing import IO, Any

from core.documents import Extracted, is_placeholder_title
from core.errors import LoadError

log = logging.getLogger(__name__)

PAGE_SEPARATOR = "\n\n"
SURROGATE_FILLER = "\u2060"
MAX_TITLE_CHARS = 300
_LOCK = threading.Lock()
_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_LONE = re.compile("[\ud800-\udfff]")
_CLEAN = {cp: " " for cp in [*range(0x00, 0x20), *range(0x7F, 0xA0)] if chr(cp) not in "\t\n\r"}
_CLEAN.update({0: "\ufffd", 0xFFFE: "\ufffd", 0xFFFF: "\ufffd"})
_MAX_CODE_POINT = 0x10FFFF


def _join_pair(m: re.Match[str]) -> str:
    hi, lo = ord(m.group()[0]), ord(m.group()[1])
    return chr(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)) + SURROGATE_FILLER


def chars_to_text(codes: list[int]) -> str:
    """PDFium's per-index Unicode values as text, one character per index (see the module notes)."""
    text = "".join(chr(c) if c <= _MAX_CODE_POINT else "\ufffd" for c in codes)
    if _LONE.search(text):
        text = _LONE.sub("\ufffd", _PAIR.sub(_join_pair, text))
    return text.translate(_CLEAN)


def page_text(textpage: Any) -> str:
    """The text of one PDFium text page, ``text[i]`` standing for char index ``i``."""
    import pypdfium2.raw as pdfium_c

    n = textpage.count_chars()
    if n <= 0:
        return ""
    codes = list(map(pdfium_c.FPDFText_GetUnicode, repeat(textpage.raw, n), range(n)))
    return chars_to_text(codes)


def _title(document: Any) -> str:
    try:
        raw = document.get_metadata_value("Title") or ""
    except Exception:  # noqa: BLE001 - a broken Info dictionary only costs the title
        return ""
    return " ".join(str(raw).translate(_CLEAN).split())[:MAX_TITLE_CHARS]


def _open(stream: IO[bytes], source: str) -> Any:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        return pdfium.PdfDocument(stream)
    except pdfium.PdfiumError as exc:
        code = getattr(exc, "err_code", None)
        if code == pdfium_c.FPDF_ERR_PASSWORD:
            raise LoadError(source, "the file is encrypted (password-protected PDF)") from None
        if code == pdfium_c.FPDF_ERR_SECURITY:
            raise LoadError(source, "the file is encrypted with a security scheme Footnote cannot open") from None
        if code == pdfium_c.FPDF_ERR_SUCCESS:
            raise LoadError(source, "this PDF has no pages") from None
        what = {pdfium_c.FPDF_ERR_FORMAT: "PDFium: data format error", pdfium_c.FPDF_ERR_FILE: "PDFium: file error",
                pdfium_c.FPDF_ERR_PAGE: "PDFium: page error"}.get(code or -1, "PDFium: unknown error")
        raise LoadError(source, f"this PDF is damaged and cannot be read ({what})") from None


def read_pdf(stream: IO[bytes], source: str, fallback_title: str) -> Extracted:
    """Read an open PDF (a seekable binary stream, read lazily) into text with page offsets."""
    import pypdfium2 as pdfium

    with _LOCK:
        document = _open(stream, source)
        try:
            parts: list[str] = []
            pages: list[tuple[int, int]] = []
            offset = 0
            broken = 0
            count = len(document)
            for index in range(count):
                try:
                    page = document.get_page(index)
                    try:
                        textpage = page.get_textpage()
                        try:
                            text = page_text(textpage)
                        finally:
                            textpage.close()
                    finally:
                        page.close()
                except pdfium.PdfiumError as exc:
                    broken += 1
                    log.info("pdf page unreadable source=%s page=%d error=%s", source, index + 1, exc)
                    continue
                if not text.strip():
                    continue
                if parts:
                    parts.append(PAGE_SEPARATOR)
                    offset += len(PAGE_SEPARATOR)
                pages.append((offset, index + 1))
                parts.append(text)
                offset += len(text)
            title = _title(document)
        finally:
            document.close()
    if not parts:
        if broken and broken == count:
            raise LoadError(source, "this PDF is damaged and cannot be read (PDFium: no page could be loaded)")
        raise LoadError(source, "no text found in the PDF (it may be scanned images; OCR is not supported)")
    title = fallback_title if is_placeholder_title(title) else title  # "Microsoft Word - x.docx", "Untitled"
    return Extracted(source=source, title=title, text="".join(parts), kind="pdf", pages=pages)
