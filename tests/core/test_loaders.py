"""Reading files: each supported type yields text with structure; bad input gets a specific reason."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import LoadError
from core.ingest.loaders import load_path, walk
from tests.core.fixtures import make_docx, make_pdf


def test_pdf_keeps_page_numbers(tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "report.pdf", ["Alpha page one text.", "Beta page two text.", "Gamma page three."])
    ex = load_path(pdf)
    assert ex.kind == "pdf"
    assert [n for _, n in ex.pages] == [1, 2, 3]
    start_of_beta = ex.text.index("Beta")
    assert max(off for off, _ in ex.pages if off <= start_of_beta) == ex.pages[1][0]


def test_docx_headings_become_sections(tmp_path: Path) -> None:
    path = make_docx(tmp_path / "notes.docx", "Quarterly results", ["Revenue grew by nine percent.", "Costs fell."])
    ex = load_path(path)
    assert ex.sections == [(0, "Quarterly results")]
    assert "Revenue grew by nine percent." in ex.text
    assert ex.title == "Quarterly results"


def test_markdown_and_html(tmp_path: Path) -> None:
    md = tmp_path / "guide.md"
    md.write_text("# Install\n\nRun make.\n\n## Usage\n\nAsk questions.\n", encoding="utf-8")
    ex = load_path(md)
    assert [s for _, s in ex.sections] == ["Install", "Usage"]
    page = tmp_path / "page.html"
    page.write_text("<html><head><title>Tea</title><script>var x=1</script></head><body><nav>Menu</nav>"
                    "<h1>Green tea</h1><p>Steep for two minutes.</p><footer>Copyright</footer></body></html>")
    ex = load_path(page)
    assert ex.title == "Tea"
    assert "Steep for two minutes." in ex.text
    assert "Menu" not in ex.text and "Copyright" not in ex.text and "var x" not in ex.text


def test_plain_text_detected_by_content(tmp_path: Path) -> None:
    f = tmp_path / "README"
    f.write_text("Plain words without an extension.", encoding="utf-8")
    assert load_path(f).text == "Plain words without an extension."


def test_non_utf8_text_is_decoded_not_lost(tmp_path: Path) -> None:
    f = tmp_path / "legacy.txt"
    f.write_bytes("Café crème brûlée à la carte".encode("cp1252"))
    assert load_path(f).text == "Café crème brûlée à la carte"


def _reason(path: Path) -> str:
    with pytest.raises(LoadError) as info:
        load_path(path)
    assert info.value.source == str(path)
    assert str(info.value).startswith(str(path) + ": ")
    return info.value.reason


def test_bad_files_get_specific_reasons(tmp_path: Path) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert _reason(empty) == "the file is empty"

    junk = tmp_path / "junk.pdf"
    junk.write_bytes(os.urandom(4096))
    assert "not a valid PDF" in _reason(junk)

    enc = make_pdf(tmp_path / "secret.pdf", ["Top secret plans."], password="hunter2")
    assert "encrypted" in _reason(enc)

    docx = tmp_path / "broken.docx"
    docx.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    assert "not a valid Word document" in _reason(docx)

    binary = tmp_path / "blob.dat"
    binary.write_bytes(b"\x00\x01\x02" * 1000)
    assert "unsupported file type (.dat)" in _reason(binary)

    huge = tmp_path / "huge.txt"
    with huge.open("wb") as fh:
        fh.truncate(50 * 1024 * 1024)
    assert "too large (50.0 MB" in _reason(huge)

    assert _reason(tmp_path / "missing.txt") == "no such file"


def test_unreadable_file(tmp_path: Path) -> None:
    # Root can read anything, so use a path whose parent is a file: the OS refuses it for everyone.
    parent = tmp_path / "afile"
    parent.write_text("x")
    reason = _reason(parent / "child.txt")
    assert reason.startswith("cannot read the file")


def test_walk_skips_hidden_and_recurses(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.txt").write_text("1")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    (tmp_path / ".hidden.txt").write_text("x")
    (tmp_path / "two.md").write_text("2")
    assert [p.relative_to(tmp_path).as_posix() for p in walk([tmp_path])] == ["two.md", "a/one.txt"]
