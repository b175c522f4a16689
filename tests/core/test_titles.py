"""Titles nobody wrote ("Untitled", "Microsoft Word - x.docx", "Document1", "untitled.pdf") give
way to the first heading or the file name, in every reader and wherever a title is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.documents import display_title, is_placeholder_title
from core.ingest.loaders import load_path
from tests.core.fixtures import make_docx

PLACEHOLDERS = [
    "", "   ", "Untitled", "untitled document", "UNTITLED", "Untitled-3", "untitled (1)", "Document1",
    "Document 12", "Book1", "Presentation1", "Slide 1", "Microsoft Word - Quarterly report.docx",
    "Microsoft PowerPoint - deck.pptx", "Word - notes", "untitled.pdf", "scan_0001.pdf", "draft.docx",
    "C:\\Users\\me\\Documents\\plan.doc", "/home/me/plan.pdf", "file:///tmp/x.pdf", "Title", "No title",
    "PowerPoint Presentation", "Insert title here", "---", "1", "Report",
]
REAL = ["Solar power", "A report on green tea", "Intro to Node.js", "Word processing in 1985",
        "Document management for small offices", "Untitled Goose Game review", "Слово о полку", "茶の歴史"]


@pytest.mark.parametrize("title", PLACEHOLDERS)
def test_placeholders_are_recognised(title: str) -> None:
    assert is_placeholder_title(title)
    assert display_title(title, "/library/Annual report.pdf") == "Annual report.pdf"


@pytest.mark.parametrize("title", REAL)
def test_real_titles_are_kept(title: str) -> None:
    assert not is_placeholder_title(title)
    assert display_title(f"  {title} ", "/x/y.pdf") == title


def test_a_web_page_falls_back_to_its_last_path_part() -> None:
    assert display_title("Untitled", "https://example.org/guides/compost.html") == "compost.html"


def _pdf(path: Path, title: str, text: str) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    c.setTitle(title)
    c.drawString(72, 800, text)
    c.showPage()
    c.save()
    return path


@pytest.mark.parametrize("meta", ["Microsoft Word - budget 2024.docx", "Untitled", "Document1", "untitled.pdf"])
def test_pdf_with_a_placeholder_title_is_named_after_its_file(tmp_path: Path, meta: str) -> None:
    ex = load_path(_pdf(tmp_path / "Budget plan.pdf", meta, "The budget for next year grows by four percent."))
    assert ex.title == "Budget plan"


def test_pdf_with_a_real_title_keeps_it(tmp_path: Path) -> None:
    ex = load_path(_pdf(tmp_path / "scan_0001.pdf", "Harbour survey 2023", "Depths measured at low tide."))
    assert ex.title == "Harbour survey 2023"


@pytest.mark.parametrize("meta", ["Document1", "Untitled", "Microsoft Word - x.docx", ""])
def test_word_placeholder_title_gives_way_to_the_first_heading(tmp_path: Path, meta: str) -> None:
    path = make_docx(tmp_path / "minutes.docx", "Board minutes", ["The vote was unanimous."])
    import docx

    d = docx.Document(str(path))
    d.core_properties.title = meta
    d.save(str(path))
    assert load_path(path).title == "Board minutes"


def test_word_without_a_usable_title_or_heading_is_named_after_its_file(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.core_properties.title = "Document1"
    d.add_paragraph("Just a paragraph about ferries.")
    path = tmp_path / "ferries.docx"
    d.save(str(path))
    assert load_path(path).title == "ferries"


def test_html_untitled_page_takes_its_first_heading(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>Untitled</title></head><body><h1>Tide tables</h1>"
                    "<p>High tide is at six.</p></body></html>", encoding="utf-8")
    assert load_path(page).title == "Tide tables"
