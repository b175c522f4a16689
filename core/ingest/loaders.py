"""Read files into text: plain text, Markdown, HTML, PDF (per page) and Word documents.

Every failure raises ``LoadError`` naming the file and the reason, so one bad file never stops
the others and never reaches the index.
"""

from __future__ import annotations

import codecs
import logging
import os
from collections.abc import Iterator
from pathlib import Path

from core.documents import Extracted
from core.errors import LoadError
from core.ingest.htmltext import extract_html, meta_charset
from core.ingest.markdown import headings as markdown_headings

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_PDF_BYTES = 200 * 1024 * 1024
TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst", ".csv", ".log", ".json", ".py", ".ini", ".cfg",
                 ".toml", ".yaml", ".yml", ".xml", ".tex", ".org"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
SUPPORTED_HINT = "Footnote reads text, Markdown, HTML, PDF and Word (.docx) files"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def decode_text(data: bytes, source: str, declared: str | None = None) -> str:
    """Decode bytes as text: BOM, then a declared charset, then UTF-8, then Windows-1252.

    Binary data (NUL bytes or many control characters) is refused rather than indexed as junk.
    """
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace")
    for bom, enc in ((codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[2:].decode(enc, errors="replace")
    sample = data[:65536]
    if b"\x00" in sample:
        raise LoadError(source, "this is a binary file, not text")
    if declared:
        try:
            return data.decode(declared)
        except (LookupError, UnicodeDecodeError):
            log.info("declared charset failed source=%s charset=%s", source, declared)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("cp1252", errors="replace")
    controls = sum(1 for ch in text[:65536] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if controls > len(text[:65536]) * 0.01:
        raise LoadError(source, "this is a binary file, not text")
    log.info("decoded as cp1252 source=%s", source)
    return text


def _read(path: Path, limit: int) -> bytes:
    source = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise LoadError(source, "no such file") from None
    except OSError as exc:
        raise LoadError(source, f"cannot read the file ({exc.strerror or exc})") from None
    if size == 0:
        raise LoadError(source, "the file is empty")
    if size > limit:
        raise LoadError(source, f"the file is too large ({_mb(size)}; the limit is {_mb(limit)})")
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise LoadError(source, "this is a folder, not a file") from None
    except OSError as exc:
        raise LoadError(source, f"cannot read the file ({exc.strerror or exc})") from None


def _require_text(ex: Extracted) -> Extracted:
    if not ex.text.strip():
        raise LoadError(ex.source, "no text found in the file")
    return ex


def _markdown(text: str, source: str, kind: str) -> Extracted:
    sections = markdown_headings(text) if kind == "markdown" else []
    title = sections[0][1] if sections else Path(source).stem
    return Extracted(source=source, title=title, text=text, kind=kind, sections=sections)


def _pdf(path: Path) -> Extracted:
    source = str(path)
    data = _read(path, MAX_PDF_BYTES)
    import io

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    if not data.lstrip()[:5].startswith(b"%PDF"):
        raise LoadError(source, "this is not a valid PDF file (no PDF header)")
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                ok = bool(reader.decrypt(""))
            except Exception:  # noqa: BLE001 - pypdf raises several types for unsupported crypto
                ok = False
            if not ok:
                raise LoadError(source, "the file is encrypted (password-protected PDF)")
        parts: list[str] = []
        pages: list[tuple[int, int]] = []
        offset = 0
        for number, page in enumerate(reader.pages, start=1):
            text = (page.extract_text() or "").strip()
            if not text:
                continue
            if parts:
                parts.append("\n\n")
                offset += 2
            pages.append((offset, number))
            parts.append(text)
            offset += len(text)
        title = ""
        meta = reader.metadata
        if meta is not None and meta.title:
            title = str(meta.title).strip()
    except LoadError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError) as exc:
        raise LoadError(source, f"this PDF is damaged and cannot be read ({type(exc).__name__})") from None
    text = "".join(parts)
    if not text.strip():
        raise LoadError(source, "no text found in the PDF (it may be scanned images; OCR is not supported)")
    return Extracted(source=source, title=title or path.stem, text=text, kind="pdf", pages=pages)


def _docx(path: Path) -> Extracted:
    source = str(path)
    data = _read(path, MAX_FILE_BYTES)
    import io
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise LoadError(source, f"this is not a valid Word document ({type(exc).__name__})") from None
    except Exception as exc:  # noqa: BLE001 - python-docx surfaces lxml errors of many kinds
        raise LoadError(source, f"this Word document is damaged ({type(exc).__name__})") from None
    parts: list[str] = []
    sections: list[tuple[int, str]] = []
    offset = 0
    blocks: list[tuple[str, bool]] = []
    for para in document.paragraphs:
        style = (para.style.name if para.style is not None else "") or ""
        blocks.append((para.text.strip(), style.lower().startswith(("heading", "title"))))
    for table in document.tables:
        for row in table.rows:
            blocks.append((" | ".join(c.text.strip() for c in row.cells), False))
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
    title = (document.core_properties.title or "").strip() or (sections[0][1] if sections else path.stem)
    return _require_text(Extracted(source=source, title=title, text="".join(parts), kind="docx", sections=sections))


def load_path(path: Path) -> Extracted:
    """Read one file. Raises ``LoadError`` with a reason a person can act on."""
    source = str(path)
    if path.is_dir():
        raise LoadError(source, "this is a folder, not a file")
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _pdf(path)
    if suffix == ".docx":
        return _docx(path)
    if suffix == ".doc":
        raise LoadError(source, "old Word .doc files are not supported; save it as .docx")
    data = _read(path, MAX_FILE_BYTES)
    if suffix in HTML_SUFFIXES:
        html = decode_text(data, source, meta_charset(data))
        ex = extract_html(html, source)
        ex.title = ex.title or path.stem
        return _require_text(ex)
    if data[:5] == b"%PDF-":
        raise LoadError(source, f"this is a PDF saved as {suffix or 'no extension'}; rename it to .pdf")
    try:
        text = decode_text(data, source)
    except LoadError:
        if suffix in TEXT_SUFFIXES:
            raise
        raise LoadError(source, f"unsupported file type ({suffix or 'no extension'}): {SUPPORTED_HINT}") from None
    kind = "markdown" if suffix in {".md", ".markdown"} else "text"
    return _require_text(_markdown(text, source, kind))


def walk(paths: list[Path]) -> Iterator[Path | LoadError]:
    """Files under the given paths, recursively, skipping hidden files and folders, in stable order.

    A folder that cannot be listed is reported as a ``LoadError`` in its place, not skipped silently.
    """
    for path in paths:
        if path.is_dir():
            errors: list[OSError] = []
            for root, dirs, files in os.walk(path, onerror=errors.append):
                while errors:
                    err = errors.pop(0)
                    where = str(err.filename or root)
                    yield LoadError(where, f"cannot read the folder ({err.strerror or err})")
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(files):
                    if not name.startswith("."):
                        yield Path(root) / name
            for err in errors:
                yield LoadError(str(err.filename or path), f"cannot read the folder ({err.strerror or err})")
        else:
            yield path
