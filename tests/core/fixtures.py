"""Fixture documents the tests write themselves: real PDFs, Word files and bad input."""

from __future__ import annotations

from pathlib import Path


def make_pdf(path: Path, pages: list[str], password: str | None = None) -> Path:
    """A real PDF with one text paragraph per page (reportlab), optionally encrypted (pypdf)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(path), pagesize=A4)
    for text in pages:
        y = 800
        for line in text.split("\n"):
            c.drawString(72, y, line)
            y -= 16
        c.showPage()
    c.save()
    if password:
        from pypdf import PdfReader, PdfWriter

        writer = PdfWriter(clone_from=PdfReader(str(path)))
        writer.encrypt(user_password=password, owner_password=password + "-owner")
        with path.open("wb") as fh:
            writer.write(fh)
    return path


def make_docx(path: Path, heading: str, paragraphs: list[str]) -> Path:
    import docx

    d = docx.Document()
    d.add_heading(heading, level=1)
    for p in paragraphs:
        d.add_paragraph(p)
    d.save(str(path))
    return path


def pdf_from_objects(objects: list[bytes], info: bytes = b"") -> bytes:
    """A PDF from numbered object bodies (object i+1 is ``objects[i]``) with a correct xref."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R %s>>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, info, xref)
    return bytes(out)
