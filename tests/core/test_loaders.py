"""Reading files: each supported type yields text with structure; bad input gets a specific reason."""

from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest

from core.errors import LoadError, SkippedItem, UnsupportedFileType
from core.ingest.loaders import load_path, walk
from tests.core.fixtures import make_docx, make_pdf, pdf_from_objects


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


# --- PDF through PDFium: text indices are PDFium's char indices --------------------------------


def _stream(data: bytes) -> bytes:
    return b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"


def _one_page_pdf(content: bytes, to_unicode: bytes | None = None, title: bytes | None = None) -> bytes:
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica" + (b" /ToUnicode 6 0 R" if to_unicode else b"") + b" >>"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        _stream(content),
        font,
    ]
    if to_unicode:
        objects.append(_stream(to_unicode))
    info = b""
    if title is not None:
        objects.append(b"<< /Title (" + title + b") >>")
        info = b"/Info %d 0 R " % len(objects)
    return pdf_from_objects(objects, info)


def _pdfium_pages(path: Path) -> list[list[tuple[str, tuple[float, float, float, float]]]]:
    """Every page's characters as PDFium reports them: (character, box) per char index."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    pages = []
    with path.open("rb") as fh:
        doc = pdfium.PdfDocument(fh)
        for index in range(len(doc)):
            tp = doc.get_page(index).get_textpage()
            pages.append([(chr(pdfium_c.FPDFText_GetUnicode(tp, i)), tp.get_charbox(i))
                          for i in range(tp.count_chars())])
        doc.close()
    return pages


def test_pdf_page_local_ranges_are_pdfium_char_indices(tmp_path: Path) -> None:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = tmp_path / "minutes.pdf"
    c = canvas.Canvas(str(path), pagesize=A4)
    c.setTitle("Board minutes")
    c.drawString(72, 800, "   Indented opening line of page one.")
    c.drawString(72, 784, "Second line of page one.")
    c.showPage()
    c.showPage()  # a blank page: no text, no entry in pages
    c.drawString(300, 500, "Budget approved on page three.")
    c.showPage()
    c.drawString(72, 700, "Page four: the vote was unanimous.")
    c.showPage()
    c.save()

    ex = load_path(path)
    assert ex.title == "Board minutes"
    assert [n for _, n in ex.pages] == [1, 3, 4]
    pdfium_pages = _pdfium_pages(path)
    for k, (offset, number) in enumerate(ex.pages):
        chars = pdfium_pages[number - 1]
        end = ex.pages[k + 1][0] - 2 if k + 1 < len(ex.pages) else len(ex.text)
        assert end - offset == len(chars)  # nothing stripped or added
        assert ex.text[offset:end] == "".join(ch for ch, _ in chars)
        if k + 1 < len(ex.pages):
            assert ex.text[end:end + 2] == "\n\n"
    # A chunk's page-local range lands on the right boxes: "Budget" sits where it was drawn.
    offset = dict((n, o) for o, n in ex.pages)[3]
    start = ex.text.index("Budget") - offset
    boxes = [box for _, box in pdfium_pages[2][start:start + len("Budget")]]
    assert abs(boxes[0][0] - 300) < 2 and all(495 < box[1] < 505 for box in boxes)
    assert ex.text[offset + start:offset + start + 6] == "Budget"


def test_pdf_unusual_characters_keep_one_char_per_pdfium_index(tmp_path: Path) -> None:
    # Codes A..D map to an emoji (outside the BMP: a surrogate pair in PDFium), a control
    # character, the "fi" ligature (PDFium splits it in two) and a glyph with no Unicode value.
    cmap = (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /X def /CMapType 2 def\n"
            b"1 begincodespacerange <00> <FF> endcodespacerange\n4 beginbfchar\n"
            b"<41> <D83DDE00>\n<42> <0002>\n<43> <FB01>\n<44> <0000>\nendbfchar\n"
            b"endcmap CMapName currentdict /CMap defineresource pop end end")
    content = b"BT /F1 12 Tf 72 700 Td (xAyBzCwDv) Tj 0 -20 Td (second line) Tj ET"
    path = tmp_path / "odd.pdf"
    path.write_bytes(_one_page_pdf(content, cmap, title=b"Odd characters"))
    ex = load_path(path)
    chars = _pdfium_pages(path)[0]
    assert ex.pages == [(0, 1)] and len(ex.text) == len(chars)
    assert ex.text.startswith("x\U0001F600\u2060y z" + "fiw\ufffdv\r\nsecond line")
    assert ex.text.encode("utf-8")  # valid Unicode: no lone surrogates left
    assert ex.title == "Odd characters"
    # Same box for both halves of the emoji, as PDFium reports them.
    assert chars[1][1] == chars[2][1]


def test_pdf_without_text_and_without_title(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(_one_page_pdf(b"0 0 m 100 100 l S"))
    assert "no text found in the PDF" in _reason(path)
    named = tmp_path / "field-notes.pdf"
    named.write_bytes(_one_page_pdf(b"BT /F1 12 Tf 72 700 Td (Notes from the field) Tj ET"))
    ex = load_path(named)
    assert ex.title == "field-notes" and ex.text == "Notes from the field"


def test_pdf_encrypted_damaged_and_truncated(tmp_path: Path) -> None:
    locked = make_pdf(tmp_path / "locked.pdf", ["Top secret plans."], password="hunter2")
    assert _reason(locked) == "the file is encrypted (password-protected PDF)"

    # Only an owner password (no password to open): it reads.
    from pypdf import PdfReader, PdfWriter

    plain = make_pdf(tmp_path / "plain.pdf", ["Open to every reader."])
    writer = PdfWriter(clone_from=PdfReader(str(plain)))
    writer.encrypt(user_password="", owner_password="owner-only")
    owner_only = tmp_path / "owner-only.pdf"
    with owner_only.open("wb") as fh:
        writer.write(fh)
    assert "Open to every reader." in load_path(owner_only).text

    data = make_pdf(tmp_path / "whole.pdf", ["Alpha page one.", "Beta page two."]).read_bytes()
    for cut in (16, len(data) // 2, len(data) - 40):
        cut_path = tmp_path / f"cut-{cut}.pdf"
        cut_path.write_bytes(data[:cut])
        assert _reason(cut_path).startswith("this PDF is damaged and cannot be read (PDFium: ")

    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 64)
    assert _reason(garbage).startswith("this PDF is damaged")


def test_pdf_size_limit(tmp_path: Path) -> None:
    from core.ingest import loaders

    big = tmp_path / "big.pdf"
    with big.open("wb") as fh:
        fh.write(b"%PDF-1.4\n")
        fh.truncate(loaders.MAX_PDF_BYTES + 1)
    assert _reason(big).startswith("the file is too large (200.0 MB")


# --- Word: the package is checked before python-docx reads it ---------------------------------

_W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'


def _docx_with(path: Path, base: Path, replace: dict[str, bytes], add: int = 0) -> Path:
    """A copy of the real document ``base`` with some parts replaced and ``add`` tiny extra parts."""
    with zipfile.ZipFile(base) as zin, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, replace.get(info.filename, zin.read(info.filename)))
        for i in range(add):
            zout.writestr(f"customXml/extra{i}.bin", b"x")
    return path


def _docx_streaming(path: Path, base: Path, parts: dict[str, int]) -> Path:
    """``base`` plus XML parts of the given sizes in bytes, written without holding them in memory."""
    para = b"<w:p><w:r><w:t>boom</w:t></w:r></w:p>" * 1000
    _docx_with(path, base, {})
    with zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED) as zf:
        for name, size in parts.items():
            with zf.open(name, "w", force_zip64=True) as fh:
                written = 0
                while written < size:
                    fh.write(para[: size - written])
                    written += min(len(para), size - written)
    return path


def test_word_decompression_bombs_are_refused_before_parsing(tmp_path: Path) -> None:
    base = make_docx(tmp_path / "base.docx", "Report", ["A normal paragraph."])
    doc_xml = zipfile.ZipFile(base).read("word/document.xml")

    # One part that inflates a thousandfold: refused by its ratio, naming the part.
    bomb = _docx_with(tmp_path / "bomb.docx", base, {})
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("word/media/bomb.xml", "w", force_zip64=True) as fh:
            for _ in range(40):
                fh.write(b"<w:p/>" * (1024 * 1024 // 6))
    assert bomb.stat().st_size < 1024 * 1024
    reason = _reason(bomb)
    assert reason.startswith("this Word document is a decompression bomb: its part word/media/bomb.xml would grow")

    # Many parts just under the ratio check: their XML adds up past the limit.
    many = _docx_streaming(tmp_path / "many.docx", base, {f"word/part{i}.xml": 7 * 1024 * 1024 for i in range(10)})
    assert many.stat().st_size < 2 * 1024 * 1024
    assert re.match(r"this Word document has 7\d\.\d MB of XML \(the limit is 64\.0 MB\)", _reason(many))

    # A directory that lies: sizes are what zipfile will inflate at most, so they are believed.
    liar = _docx_with(tmp_path / "liar.docx", base, {})
    raw = bytearray(liar.read_bytes())
    central = raw.find(b"PK\x01\x02")
    while central >= 0:
        name_len = int.from_bytes(raw[central + 28:central + 30], "little")
        if raw[central + 46:central + 46 + name_len] == b"word/document.xml":
            raw[central + 24:central + 28] = (3 * 1024 ** 3).to_bytes(4, "little")
        central = raw.find(b"PK\x01\x02", central + 4)
    liar.write_bytes(bytes(raw))
    assert re.match(r"this Word document would unpack to 307\d\.\d MB \(the limit is 256\.0 MB\)", _reason(liar))

    too_many = _docx_with(tmp_path / "parts.docx", base, {}, add=10_001)
    assert "parts (the limit is 10000)" in _reason(too_many)

    # Entity expansion: a DOCTYPE (which no Word file has) is refused outright.
    names = "abcdefghi"
    entities = b'<!ENTITY a "' + b"lol" * 10 + b'">' + b"".join(
        b'<!ENTITY %s "%s">' % (names[i].encode(), b"&%s;" % names[i - 1].encode() * 10) for i in range(1, 9))
    body = doc_xml[doc_xml.index(b"<w:document"):].replace(b"A normal paragraph.", b"&i;")
    laughs = b'<?xml version="1.0"?><!DOCTYPE w:document [' + entities + b"]>" + body
    entity = _docx_with(tmp_path / "laughs.docx", base, {"word/document.xml": laughs})
    assert "declares a DOCTYPE" in _reason(entity)


def test_long_real_word_documents_still_import(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("Ledger", level=1)
    for i in range(3000):
        d.add_paragraph(f"Entry {i}: paid the same supplier the same amount for the same service.")
    table = d.add_table(rows=60, cols=8)
    for row in table.rows:
        for cell in row.cells:
            cell.text = "0"
    path = tmp_path / "ledger.docx"
    d.save(str(path))
    part = zipfile.ZipFile(path).getinfo("word/document.xml")
    assert part.file_size > 30 * part.compress_size  # repetitive, as real ledgers are
    ex = load_path(path)
    assert ex.title == "Ledger" and "Entry 2999:" in ex.text and "0 | 0 | 0" in ex.text


def test_word_files_that_are_something_else(tmp_path: Path) -> None:
    base = make_docx(tmp_path / "base.docx", "Report", ["A paragraph."])
    sheet = tmp_path / "sheet.docx"
    with zipfile.ZipFile(sheet, "w") as zf:
        zf.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                    'package/2006/content-types"/>')
        zf.writestr("xl/workbook.xml", "<workbook/>")
    assert _reason(sheet) == "this is an Excel workbook (.xlsx) named .docx, not a Word document"

    pdf = tmp_path / "really-a-pdf.docx"
    pdf.write_bytes(make_pdf(tmp_path / "x.pdf", ["Text."]).read_bytes())
    assert _reason(pdf) == "this is a PDF document named .docx, not a Word document"

    old = tmp_path / "old.docx"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096))
    assert "old Microsoft Office file" in _reason(old) and "save it as .docx" in _reason(old)

    no_body = _docx_with(tmp_path / "nobody.docx", base, {
        "word/document.xml": f'<?xml version="1.0"?><w:document {_W_NS}></w:document>'.encode()})
    assert _reason(no_body) == "this Word document is damaged (AttributeError)"


# --- content decides the type ----------------------------------------------------------------

_PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
        b"\x00\x00\x00\rIDATx\xdac\xf8\x0f\x00\x01\x01\x01\x00\x18\xdd\x8d\xb0\x00\x00\x00\x00IEND\xaeB`\x82")


def _zip_bytes(tmp_path: Path, members: dict[str, str]) -> bytes:
    path = tmp_path / "tmp.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in members.items():
            zf.writestr(name, text)
    data = path.read_bytes()
    path.unlink()
    return data


def test_bytes_that_contradict_the_name_are_refused_saying_what_they_are(tmp_path: Path) -> None:
    docx_bytes = make_docx(tmp_path / "real.docx", "Plan", ["Step one."]).read_bytes()
    cases = {
        "photo.txt": (_PNG, "this is a PNG image named .txt, not text"),
        "notes.md": (_zip_bytes(tmp_path, {"a.txt": "x"}), "this is a ZIP archive named .md, not text"),
        "page.html": (b"\x7fELF\x02\x01\x01\x00" + bytes(64), "this is a program (ELF executable or library) "
                                                             "named .html, not a web page"),
        "data.json": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64), "this is a JPEG image named .json, not text"),
        "clip.txt": (b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00" + bytes(64), "this is an MP4 or QuickTime video "
                                                                             "named .txt, not text"),
        "song.md": (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(64), "this is an MP3 audio file named .md, not text"),
        "report.txt": (docx_bytes, "this is a Word document saved as .txt; rename it to .docx"),
        "scan.pdf": (_PNG, "this is a PNG image named .pdf, not a PDF"),
        "letter.txt": (b"{\\rtf1\\ansi Dear reader}", "this is an RTF document named .txt, not text"),
        "book.html": (_zip_bytes(tmp_path, {"mimetype": "application/epub+zip", "c.xhtml": "<p/>"}),
                      "this is an EPUB e-book named .html, not a web page"),
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(LoadError) as info:
            load_path(path)
        assert not isinstance(info.value, SkippedItem), name  # a wrong name is a failure to fix
        assert info.value.reason == expected, name


def test_unsupported_types_are_skipped_not_failed(tmp_path: Path) -> None:
    cases = {
        "picture.png": (_PNG, "unsupported file type (.png; this is a PNG image)"),
        "tool.exe": (b"MZ\x90\x00\x03\x00\x00\x00" + bytes(120), "unsupported file type (.exe; this is a Windows program"),
        "backup.zip": (_zip_bytes(tmp_path, {"a.txt": "x"}), "unsupported file type (.zip; this is a ZIP archive)"),
        "movie": (b"\x1aE\xdf\xa3" + bytes(64), "unsupported file type (no extension; this is a Matroska"),
        "budget.xlsx": (_zip_bytes(tmp_path, {"xl/workbook.xml": "<workbook/>"}),
                        "unsupported file type (.xlsx; this is an Excel workbook (.xlsx))"),
        "blob.bin": (bytes(range(256)) * 8, "unsupported file type (.bin): "),
        "legacy.doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(512), "old Word .doc files are not supported"),
    }
    for name, (data, expected) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(UnsupportedFileType) as info:
            load_path(path)
        assert isinstance(info.value, SkippedItem) and info.value.source == str(path)
        assert info.value.reason.startswith(expected), (name, info.value.reason)
    # A large unsupported file is skipped by its first bytes, not failed as "too large".
    video = tmp_path / "holiday.mkv"
    with video.open("wb") as fh:
        fh.write(b"\x1aE\xdf\xa3" + bytes(64))
        fh.truncate(60 * 1024 * 1024)
    with pytest.raises(UnsupportedFileType):
        load_path(video)


def test_text_that_merely_starts_like_a_format_is_still_text(tmp_path: Path) -> None:
    for name, text in {
        "zip-notes.txt": "PK stands for Phil Katz, who wrote PKZIP.",
        "README": "MZ are the initials at the start of every DOS program.",
        "gif.md": "GIF89a was the version that added animation.",
        "bm.txt": "BM: the two letters that open a bitmap file.",
        "id3": "ID3 tags hold the title of a song.",
        "riff.txt": "RIFF....WAVE is how a WAV file begins.",
        "ftyp.txt": "1234ftypisom is how an MP4 begins.",
    }.items():
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        assert load_path(path).text == text
    utf16 = tmp_path / "utf16-notes"
    utf16.write_bytes("\ufeffNotes saved by an old editor.".encode("utf-16-le"))
    assert load_path(utf16).text == "Notes saved by an old editor."


def test_unexpected_reader_errors_become_load_errors(tmp_path: Path) -> None:
    path = Path(str(tmp_path / "bad") + "\x00name.txt")  # the OS layer raises ValueError, not OSError
    with pytest.raises(LoadError) as info:
        load_path(path)
    assert info.value.reason == "the reader failed (ValueError)"


def test_pipes_and_devices_are_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    assert _reason(fifo) == "this is not a regular file (a named pipe)"
    if Path("/dev/zero").exists():
        with pytest.raises(LoadError) as info:
            load_path(Path("/dev/zero"))
        assert info.value.reason == "this is not a regular file (a device)"


# --- folder import stays inside the folder --------------------------------------------------


def test_walk_stays_inside_the_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "private.txt").write_text("not for the library")
    lib = tmp_path / "lib"
    (lib / "sub").mkdir(parents=True)
    (lib / "a.txt").write_text("a")
    (lib / "sub" / "b.txt").write_text("b")
    (lib / "file-out.txt").symlink_to(outside / "private.txt")
    (lib / "folder-out").symlink_to(outside)
    (lib / "relative-out.txt").symlink_to(Path("..") / "outside" / "private.txt")
    (lib / "broken.txt").symlink_to(lib / "gone.txt")
    (lib / "sub" / "up").symlink_to(lib)  # a loop through a folder inside: walked once
    (lib / "loop-a").symlink_to(lib / "loop-b")
    (lib / "loop-b").symlink_to(lib / "loop-a")
    (lib / "alias.txt").symlink_to(lib / "a.txt")  # inside: imported
    (lib / "sub" / "pipe").mkdir()
    os.mkfifo(lib / "sub" / "pipe" / "fifo.txt")

    items = list(walk([lib]))
    paths = [i.relative_to(lib).as_posix() for i in items if isinstance(i, Path)]
    assert paths == ["a.txt", "alias.txt", "sub/b.txt"]
    problems = {Path(e.source).relative_to(lib).as_posix(): e for e in items if isinstance(e, LoadError)}
    assert set(problems) == {"file-out.txt", "folder-out", "relative-out.txt", "broken.txt", "loop-a", "loop-b",
                             "sub/pipe/fifo.txt"}
    for name in ("file-out.txt", "folder-out", "relative-out.txt"):
        assert isinstance(problems[name], SkippedItem)
        assert problems[name].reason.startswith("the link leads outside the imported folder (to ")
        assert str(outside) in problems[name].reason
    broken = problems["broken.txt"]
    assert not isinstance(broken, SkippedItem) and broken.source == str(lib / "broken.txt")
    assert broken.reason == f"broken link (its target {lib / 'gone.txt'} does not exist)"
    assert problems["loop-a"].reason == "the link loops back on itself"
    assert isinstance(problems["sub/pipe/fifo.txt"], SkippedItem)
    assert load_path(lib / "alias.txt").text == "a"


def test_walk_follows_a_linked_folder_the_user_chose(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (real / "one.txt").write_text("1")
    (real / "self.txt").symlink_to(real / "one.txt")
    chosen = tmp_path / "chosen"
    chosen.symlink_to(real)
    assert [p.name for p in walk([chosen]) if isinstance(p, Path)] == ["one.txt", "self.txt"]
    assert all(str(p).startswith(str(chosen)) for p in walk([chosen]))  # reported under the user's path
    broken = tmp_path / "dangling.txt"
    broken.symlink_to(tmp_path / "nowhere.txt")
    assert list(walk([broken])) == [broken]
    assert _reason(broken).startswith("broken link")
