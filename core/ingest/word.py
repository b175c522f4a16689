"""Read Word (.docx) files, after checking the ZIP package so that a decompression bomb is refused.

A .docx is a ZIP of XML parts. A few kilobytes of ZIP can declare gigabytes of XML (deflate
reaches about 1000:1), and python-docx reads every part into memory and parses it with lxml, so
the package is inspected from its central directory before python-docx sees it:

* more than ``MAX_MEMBERS`` parts, more than ``MAX_UNPACKED_BYTES`` in all, or more than
  ``MAX_XML_BYTES`` of XML parts is refused: real documents, even long ones with many pictures,
  stay far below (a 20,000-paragraph document has under 3 MB of XML);
* a part over ``RATIO_MIN_BYTES`` that would grow more than ``MAX_RATIO`` times is refused as a
  bomb: real XML compresses 5 to 50 times;
* Python's ``zipfile`` never inflates a part past the size the directory declares (a lying
  header fails its CRC check), so the declared sizes bound the work.

XML entity expansion ("billion laughs") cannot happen: python-docx's lxml parser is built with
``resolve_entities=False``, and an XML part with a document type declaration (which the Open
Packaging Conventions forbid in a package) is refused outright.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from core.documents import Extracted, is_placeholder_title
from core.errors import LoadError
from core.ingest.sniff import ZIP, describe_zip

MB = 1024 * 1024
MAX_MEMBERS = 10_000
MAX_UNPACKED_BYTES = 256 * MB
MAX_XML_BYTES = 64 * MB
MAX_RATIO = 100
RATIO_MIN_BYTES = 8 * MB
_PROLOG_BYTES = 4096
_XML_SUFFIXES = (".xml", ".rels")


def _size(n: int) -> str:
    if n >= MB:
        return f"{n / MB:.1f} MB"
    return f"{max(1, round(n / 1024))} KB"


def check_package(zf: zipfile.ZipFile, source: str) -> None:
    """Refuse a package whose declared sizes or XML prologs no real Word document has."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise LoadError(source, f"this Word document has {len(infos)} parts (the limit is {MAX_MEMBERS}); "
                                "it is not a real document")
    total = sum(i.file_size for i in infos)
    if total > MAX_UNPACKED_BYTES:
        raise LoadError(source, f"this Word document would unpack to {_size(total)} (the limit is "
                                f"{_size(MAX_UNPACKED_BYTES)}); it may be a decompression bomb")
    for info in infos:
        if info.file_size >= RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise LoadError(source, f"this Word document is a decompression bomb: its part {info.filename} would "
                                    f"grow from {_size(info.compress_size)} to {_size(info.file_size)}")
    xml = [i for i in infos if i.filename.lower().endswith(_XML_SUFFIXES)]
    xml_total = sum(i.file_size for i in xml)
    if xml_total > MAX_XML_BYTES:
        raise LoadError(source, f"this Word document has {_size(xml_total)} of XML (the limit is "
                                f"{_size(MAX_XML_BYTES)}); it may be a decompression bomb")
    for info in xml:
        with zf.open(info) as fh:
            prolog = fh.read(_PROLOG_BYTES)
        if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
            raise LoadError(source, f"this Word document's part {info.filename} declares a DOCTYPE, which Word "
                                    "files never contain (it could be an XML entity-expansion attack)")


def _blocks(document: Any) -> list[tuple[str, bool]]:
    """(text, is heading) for each paragraph, then each table row (cells joined with " | ").

    Style names come from one table built up front: ``Paragraph.style`` searches the styles part
    with XPath on every call, which made long documents quadratic (seconds per thousand paragraphs).
    """
    from docx.enum.style import WD_STYLE_TYPE

    headings = {style.style_id for style in document.styles
                if style.type == WD_STYLE_TYPE.PARAGRAPH
                and (style.name or "").lower().startswith(("heading", "title"))}
    blocks: list[tuple[str, bool]] = []
    for para in document.paragraphs:
        style_id = para._p.style  # w:pPr/w:pStyle/@w:val; None means the default (body text) style
        blocks.append((para.text.strip(), style_id in headings))
    for table in document.tables:
        for row in table.rows:
            blocks.append((" | ".join(c.text.strip() for c in row.cells), False))
    return blocks


def read_docx(data: bytes, source: str, fallback_title: str) -> Extracted:
    """Paragraphs (headings become sections) and table rows of a .docx, after ``check_package``."""
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            check_package(zf, source)
    except LoadError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError,
            KeyError, RuntimeError) as exc:
        raise LoadError(source, f"this is not a valid Word document ({type(exc).__name__})") from None
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        kind = describe_zip(data)
        if kind is not ZIP and not kind.name.startswith("a Word document"):
            raise LoadError(source, f"this is {kind.name} named .docx, not a Word document") from None
        raise LoadError(source, f"this is not a valid Word document ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - python-docx surfaces lxml errors of many kinds
        raise LoadError(source, f"this Word document is damaged ({type(exc).__name__})") from None
    try:
        blocks = _blocks(document)
        core_title = document.core_properties.title or ""
    except Exception as exc:  # noqa: BLE001 - a part python-docx cannot walk (no body, odd elements)
        raise LoadError(source, f"this Word document is damaged ({type(exc).__name__})") from None
    parts: list[str] = []
    sections: list[tuple[int, str]] = []
    offset = 0
    for text, is_heading in blocks:
        if not text:
            continue
        if parts:
            parts.append("\n\n")
            offset += 2
        if is_heading:
            sections.append((offset, text))
        parts.append(text)
        offset += len(text)
    # A placeholder in the properties ("Document1", "Untitled") gives way to the first heading.
    title = next((t for t in (core_title.strip(), *(h for _o, h in sections[:1])) if not is_placeholder_title(t)),
                 fallback_title)
    return Extracted(source=source, title=title, text="".join(parts), kind="docx", sections=sections)
