"""Builds what the source viewer shows for a citation, in a worker: the cited PDF page drawn by
PDFium with the passage marked, or a document's whole stored text with the passage's place.

Runs off the GUI thread (``Services.source_view`` and ``Services.render_page``); the ``QImage`` is
built here from PDFium's bytes, so the GUI thread only paints it.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtGui import QImage

from core import pageview
from core.errors import LoadError
from desktop.views import CitationView, DocumentTextView, PageView, SourceView, citation_from

if TYPE_CHECKING:
    from core.engine import Engine

log = logging.getLogger(__name__)


def is_web(source: str) -> bool:
    return source.lower().startswith(("http://", "https://"))


def page_view(rendered: pageview.RenderedPage) -> PageView:
    image = QImage(rendered.pixels, rendered.width, rendered.height, rendered.stride, QImage.Format.Format_RGB888)
    # ``copy`` gives the image its own pixels; the bytes object may go once this returns.
    return PageView(source=rendered.source, page=rendered.page, pages=rendered.pages, scale=rendered.scale,
                    image=image.copy(), boxes=rendered.boxes, char_range=rendered.char_range)


def render(source: str, page: int, *, scale: float | None = None, fit_width: int | None = None,
           char_range: tuple[int, int] | None = None, passage: str = "") -> PageView:
    return page_view(pageview.render_page(source, page, scale=scale, fit_width=fit_width,
                                          char_range=char_range, passage=passage))


def char_range_of(c: CitationView) -> tuple[int, int] | None:
    if c.page_start is None or c.page_end is None or c.page_end < c.page_start:
        return None
    return c.page_start, c.page_end


def build_source_view(engine: Engine, c: CitationView, fit_width: int | None = None) -> SourceView:
    """The library's current copy of the passage (offsets and page range) when it still has it,
    else the answer's snapshot; then the page (a local PDF still on disk) and the whole text."""
    hit = engine.chunk(c.chunk_id) if c.chunk_id else None
    fresh = dataclasses.replace(citation_from(hit, c.n), n=c.n) if hit is not None else c
    doc = engine.find(c.document_id) if c.document_id else None
    if doc is None and c.source:
        doc = engine.find(c.source)
    kind = doc.kind if doc is not None else ("pdf" if c.source.lower().endswith(".pdf") else "")
    web = is_web(fresh.source)
    page: PageView | None = None
    note = ""
    if kind == "pdf" and not web and fresh.source:
        try:
            page = render(fresh.source, fresh.page or 1, fit_width=fit_width, char_range=char_range_of(fresh),
                          passage=fresh.text)
            if page.char_range is None and fresh.text.strip():
                note = (f"{Path(fresh.source).name}: the passage was not found on page {page.page} "
                        "(the file may have changed since it was imported)")
        except LoadError as exc:
            note = f"{exc}; showing the stored text"
    text: DocumentTextView | None = None
    chunks = engine.document_chunks(doc.id) if doc is not None else []
    if chunks:
        dt = pageview.document_text(chunks, hit.start if hit is not None else None,
                                    hit.end if hit is not None else None, passage=fresh.text)
        text = DocumentTextView(dt.text, dt.start, dt.end, dt.clipped)
    if text is None or text.start < 0:
        # The document is gone or no longer holds the passage: the snapshot and its context.
        if chunks and not note:
            note = f"{doc.title if doc is not None else fresh.source}: the document changed since this answer; " \
                   "showing the passage as it was cited"
        before, after = fresh.before, fresh.after
        text = DocumentTextView(before + fresh.text + after, len(before), len(before) + len(fresh.text))
    log.info("source view kind=%s page=%s chunks=%d", kind or "unknown", page.page if page else None, len(chunks))
    return SourceView(citation=fresh, kind=kind, page=page, text=text, note=note,
                      live_url=fresh.source if web else "")
