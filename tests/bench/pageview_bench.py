"""Time to show a cited PDF page: open the file, draw the page, and mark the passage (prints JSON).

A 500-page PDF (reportlab, 45 lines a page) and a passage on page 437, each step in a fresh open as
the viewer does it, against raw pypdfium2 doing the same work in the same run (open, draw,
``count_rects``/``get_rect``) -- the floor the viewer's own path is measured against:

* ``raw``: pypdfium2 alone (no QImage, no checks);
* ``pageview``: ``core.pageview.render_page`` (the file check, the render, the passage's char range
  checked against the page text, the rectangles through the render's own transform);
* ``qimage``: ``desktop.sources.render``, the above plus the ``QImage`` the GUI thread paints;
* ``click`` (with ``--engine``): ``desktop.sources.build_source_view`` on a real engine that imported
  the PDF -- the whole worker step after a citation click, including rebuilding the document's text
  from its passages for the "Text" view.

Widths: 800 px (a pane at 1x) and 1600 px (the same pane at 2x). The target is under 1 s.

    .venv/bin/python tests/bench/pageview_bench.py [--engine] [--pages 500]

``--engine`` imports the whole PDF first (3000 passages: about 13 minutes on two shared cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.core.fixtures import make_pdf  # noqa: E402

LINE = "The harbour authority reported record tonnage, and the tides ran high all spring."
TARGET_S = 1.0


def _times(fn: Callable[[], Any], rounds: int) -> dict[str, float]:
    fn()  # the first call loads the libraries; a click after the app started has them loaded
    got = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        got.append(time.perf_counter() - t)
    return {"median_s": round(statistics.median(got), 4), "max_s": round(max(got), 4)}


def _raw(path: Path, page: int, width: int, start: int, end: int) -> int:
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(path))
    pg = doc[page - 1]
    bitmap = pg.render(scale=width / pg.get_width(), rev_byteorder=True)
    tp = pg.get_textpage()
    rects = [tp.get_rect(i) for i in range(tp.count_rects(start, end - start))]
    _ = bytes(bitmap.buffer)
    tp.close()
    pg.close()
    doc.close()
    return len(rects)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pages", type=int, default=500)
    ap.add_argument("--page", type=int, default=437)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--engine", action="store_true", help="also time the whole click through a real engine")
    args = ap.parse_args()

    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    from core import pageview
    from core.ingest.pdf import page_text

    _app = QGuiApplication.instance() or QGuiApplication([])
    from desktop import sources

    page_no = min(args.page, args.pages)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        pdf = make_pdf(root / "book.pdf", ["\n".join(f"{p}.{n} {LINE}" for n in range(45))
                                           for p in range(1, args.pages + 1)])
        made_s = time.perf_counter() - t
        import pypdfium2 as pdfium

        doc = pdfium.PdfDocument(str(pdf))
        tp = doc[page_no - 1].get_textpage()
        text = page_text(tp)
        doc.close()
        start = text.index(f"{page_no}.10 ")
        end = text.index(f"{page_no}.20 ")  # ten lines, as a passage of about 200 word pieces is
        passage = text[start:end]

        result: dict[str, Any] = {"pages": args.pages, "page": page_no, "file_mb": round(pdf.stat().st_size / 1e6, 2),
                                  "make_pdf_s": round(made_s, 2), "passage_chars": len(passage),
                                  "target_s": TARGET_S, "widths": {}}
        for width in (800, 1600):
            row: dict[str, Any] = {}
            row["raw"] = _times(lambda w=width: _raw(pdf, page_no, w, start, end), args.rounds)
            row["pageview"] = _times(lambda w=width: pageview.render_page(
                pdf, page_no, fit_width=w, char_range=(start, end), passage=passage), args.rounds)
            row["qimage"] = _times(lambda w=width: sources.render(
                str(pdf), page_no, fit_width=w, char_range=(start, end), passage=passage), args.rounds)
            row["pageview_over_raw"] = round(row["pageview"]["median_s"] / max(row["raw"]["median_s"], 1e-9), 2)
            row["under_target"] = row["qimage"]["max_s"] < TARGET_S
            result["widths"][str(width)] = row

        if args.engine:
            from core.engine import Engine
            from desktop.views import citation_from

            engine = Engine(root / "data")
            try:
                t = time.perf_counter()
                for _ in engine.ingest([str(pdf)]):
                    pass
                ingest_s = time.perf_counter() - t
                doc_id = engine.documents()[0].id
                chunks = engine.document_chunks(doc_id)
                hit = next(h for h in chunks if h.page == page_no)
                c = citation_from(hit, 1)
                result["click"] = {"ingest_s": round(ingest_s, 1), "chunks": len(chunks),
                                   **_times(lambda: sources.build_source_view(engine, c, fit_width=800), args.rounds)}
                result["click"]["under_target"] = result["click"]["max_s"] < TARGET_S
            finally:
                engine.close()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
