"""File readers against the raw libraries, on the same files, in the same run (prints JSON).

* PDF: ``load_path`` (PDFium, one ``FPDFText_GetUnicode`` call per char index, so offsets are char
  indices) against raw pypdfium2 ``get_text_range()`` per page (fast, but its text indices do not
  line up with char indices). The price of exact char indices is this ratio.
* Word: ``load_path`` (package checks, heading styles looked up once) against raw python-docx
  reading ``paragraph.text`` and ``paragraph.style.name`` for each paragraph.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.ingest.loaders import load_path  # noqa: E402
from tests.core.fixtures import make_docx, make_pdf  # noqa: E402

LINE = "The harbour authority reported record tonnage, and the tides ran high all spring. "


def _best(fn: object, rounds: int = 3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        best = min(best, time.perf_counter() - t)
    return best


def _raw_pdf(path: Path) -> int:
    import pypdfium2 as pdfium

    n = 0
    with path.open("rb") as fh:
        doc = pdfium.PdfDocument(fh)
        for i in range(len(doc)):
            n += len(doc.get_page(i).get_textpage().get_text_range())
        doc.close()
    return n


def _raw_docx(path: Path) -> int:
    import docx

    d = docx.Document(str(path))
    return sum(len(p.text) + len(p.style.name if p.style is not None else "") for p in d.paragraphs)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pdf = make_pdf(root / "book.pdf", ["\n".join(LINE for _ in range(45)) for _ in range(200)])
        docx_path = make_docx(root / "long.docx", "Ledger", [f"Entry {i}: {LINE}" for i in range(3000)])
        pdf_chars = len(load_path(pdf).text)
        result = {
            "pdf_pages": 200,
            "pdf_chars": pdf_chars,
            "pdf_load_path_s": round(_best(lambda: load_path(pdf)), 3),
            "pdf_raw_get_text_range_s": round(_best(lambda: _raw_pdf(pdf)), 3),
            "docx_paragraphs": 3000,
            "docx_load_path_s": round(_best(lambda: load_path(docx_path)), 3),
            "docx_raw_python_docx_s": round(_best(lambda: _raw_docx(docx_path), rounds=1), 3),
        }
        result["pdf_ratio_vs_raw"] = round(result["pdf_load_path_s"] / result["pdf_raw_get_text_range_s"], 2)
        result["docx_ratio_vs_raw"] = round(result["docx_load_path_s"] / result["docx_raw_python_docx_s"], 2)
        print(json.dumps(result))


if __name__ == "__main__":
    main()
