"""Read files into text: plain text, Markdown, HTML, PDF (per page) and Word documents.

Every failure raises ``LoadError`` naming the file and the reason, so one bad file never stops
the others and never reaches the index; a file that is not imported on purpose (a type Footnote
does not read) raises ``UnsupportedFileType``, a ``SkippedItem``. Content decides the type: a
file whose bytes contradict its name (a PNG image named .txt) is refused, saying what it is.
Any unexpected exception inside a reader becomes ``LoadError(source, "the reader failed (...)")``.

``walk`` stays inside each folder it is given: a link that leads outside is skipped with a reason,
a broken link is reported under the link's own path, and link loops end.
"""

from __future__ import annotations

import codecs
import errno
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from core.documents import Extracted
from core.errors import LoadError, SkippedItem, UnsupportedFileType
from core.ingest import sniff
from core.ingest.htmltext import extract_html, meta_charset
from core.ingest.markdown import headings as markdown_headings
from core.ingest.pdf import read_pdf
from core.ingest.word import read_docx

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 25 * 1024 * 1024
MAX_PDF_BYTES = 200 * 1024 * 1024
TEXT_SUFFIXES = {".txt", ".text", ".md", ".markdown", ".rst", ".csv", ".log", ".json", ".py", ".ini", ".cfg",
                 ".toml", ".yaml", ".yml", ".xml", ".tex", ".org"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
SUPPORTED_HINT = "Footnote reads text, Markdown, HTML, PDF and Word (.docx) files"
# Text-based formats whose markup would be indexed as junk: refused by name, as no sniffing can.
UNSUPPORTED_SUFFIXES = {".doc": "old Word .doc files are not supported; save it as .docx",
                        ".rtf": f"RTF documents are not supported; save it as .docx. {SUPPORTED_HINT}",
                        ".svg": f"unsupported file type (.svg, an SVG image): {SUPPORTED_HINT}"}


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


def _open(path: Path) -> tuple[IO[bytes], int]:
    """Open a regular file for reading; a pipe or device is refused before anything blocks on it."""
    source = str(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        if path.is_symlink():
            raise LoadError(source, f"broken link (its target {os.readlink(path)} does not exist)") from None
        raise LoadError(source, "no such file") from None
    except IsADirectoryError:
        raise LoadError(source, "this is a folder, not a file") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise LoadError(source, "the link loops back on itself") from None
        raise LoadError(source, f"cannot read the file ({exc.strerror or exc})") from None
    fh = os.fdopen(fd, "rb")
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise LoadError(source, "this is a folder, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise LoadError(source, f"this is not a regular file ({_special_kind(info.st_mode)})")
        if info.st_size == 0:
            raise LoadError(source, "the file is empty")
    except BaseException:
        fh.close()
        raise
    return fh, info.st_size


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def _check_size(source: str, size: int, limit: int) -> None:
    if size > limit:
        raise LoadError(source, f"the file is too large ({_mb(size)}; the limit is {_mb(limit)})")


def _read_rest(fh: IO[bytes], head: bytes, source: str, size: int, limit: int) -> bytes:
    _check_size(source, size, limit)
    try:
        data = head + fh.read(limit + 1 - len(head))
    except OSError as exc:
        raise LoadError(source, f"cannot read the file ({exc.strerror or exc})") from None
    _check_size(source, len(data), limit)  # it grew while being read
    return data


def _require_text(ex: Extracted) -> Extracted:
    if not ex.text.strip():
        raise LoadError(ex.source, "no text found in the file")
    return ex


def _markdown(text: str, source: str, kind: str) -> Extracted:
    sections = markdown_headings(text) if kind == "markdown" else []
    title = sections[0][1] if sections else Path(source).stem
    return Extracted(source=source, title=title, text=text, kind=kind, sections=sections)


def _what(kind: sniff.Kind, fh: IO[bytes], size: int) -> sniff.Kind:
    """A ZIP named more precisely from its members (a Word document, an EPUB...) where affordable."""
    if kind is not sniff.ZIP or size > MAX_FILE_BYTES:
        return kind
    fh.seek(0)
    return sniff.describe_zip(fh)


def _pdf(path: Path, fh: IO[bytes], head: bytes, size: int) -> Extracted:
    source = str(path)
    if b"%PDF-" not in head[:1024]:
        kind = sniff.sniff(head)
        if kind is not None:
            raise LoadError(source, f"this is {_what(kind, fh, size).name} named .pdf, not a PDF")
        raise LoadError(source, "this is not a valid PDF file (no PDF header)")
    _check_size(source, size, MAX_PDF_BYTES)
    fh.seek(0)
    return read_pdf(fh, source, path.stem)


def _docx(path: Path, fh: IO[bytes], head: bytes, size: int) -> Extracted:
    source = str(path)
    kind = sniff.sniff(head)
    if kind is not sniff.ZIP:
        if kind is sniff.OLE:
            raise LoadError(source, f"this is {kind.name} named .docx; open it in Word and save it as .docx")
        if kind is not None:
            raise LoadError(source, f"this is {kind.name} named .docx, not a Word document")
        raise LoadError(source, "this is not a valid Word document (not a ZIP package)")
    data = _read_rest(fh, head, source, size, MAX_FILE_BYTES)
    return _require_text(read_docx(data, source, path.stem))


def _mislabeled(path: Path, kind: sniff.Kind, fh: IO[bytes], size: int) -> LoadError:
    """The error for a file whose bytes say it is something its name does not."""
    source, suffix = str(path), path.suffix.lower()
    named = suffix or "no extension"
    if kind is sniff.PDF:
        return LoadError(source, f"this is a PDF saved as {named}; rename it to .pdf")
    kind = _what(kind, fh, size)
    if kind.name.startswith("a Word document"):
        return LoadError(source, f"this is a Word document saved as {named}; rename it to .docx")
    if suffix in HTML_SUFFIXES:
        return LoadError(source, f"this is {kind.name} named {suffix}, not a web page")
    if suffix in TEXT_SUFFIXES:
        return LoadError(source, f"this is {kind.name} named {suffix}, not text")
    return UnsupportedFileType(source, f"unsupported file type ({named}; this is {kind.name}): {SUPPORTED_HINT}")


def _load(path: Path) -> Extracted:
    source = str(path)
    suffix = path.suffix.lower()
    fh, size = _open(path)
    with fh:
        try:
            head = fh.read(sniff.HEAD_BYTES)
        except OSError as exc:
            raise LoadError(source, f"cannot read the file ({exc.strerror or exc})") from None
        if suffix == ".pdf":
            return _pdf(path, fh, head, size)
        if suffix == ".docx":
            return _docx(path, fh, head, size)
        if suffix in UNSUPPORTED_SUFFIXES:
            raise UnsupportedFileType(source, UNSUPPORTED_SUFFIXES[suffix])
        kind = sniff.sniff(head)
        if kind is not None:
            raise _mislabeled(path, kind, fh, size)
        if suffix not in TEXT_SUFFIXES and suffix not in HTML_SUFFIXES and sniff.looks_binary(head):
            if not head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                raise UnsupportedFileType(source, f"unsupported file type ({suffix or 'no extension'}): "
                                                  f"{SUPPORTED_HINT}")
        data = _read_rest(fh, head, source, size, MAX_FILE_BYTES)
    if suffix in HTML_SUFFIXES:
        html = decode_text(data, source, meta_charset(data))
        ex = extract_html(html, source)
        ex.title = ex.title or path.stem
        return _require_text(ex)
    text = decode_text(data, source)
    kind_name = "markdown" if suffix in {".md", ".markdown"} else "text"
    return _require_text(_markdown(text, source, kind_name))


def load_path(path: Path) -> Extracted:
    """Read one file. Raises ``LoadError`` with a reason a person can act on (``UnsupportedFileType``
    for a type Footnote does not read), whatever the file holds."""
    try:
        return _load(path)
    except LoadError:
        raise
    except Exception as exc:  # noqa: BLE001 - a reader's bug or a library's surprise costs one file
        log.warning("reader failed source=%s error=%s", path, type(exc).__name__, exc_info=True)
        raise LoadError(str(path), f"the reader failed ({type(exc).__name__})") from None


def _inside(target: str, root: str) -> bool:
    try:
        return os.path.commonpath([target, root]) == root
    except ValueError:  # different drives
        return False


def _link_verdict(item: Path, root: str) -> LoadError | None:
    """None when the link ``item`` leads to something inside ``root``; else why it is not imported."""
    try:
        target = os.path.realpath(item, strict=True)
    except FileNotFoundError:
        try:
            dest = os.readlink(item)
        except OSError:
            dest = "?"
        return LoadError(str(item), f"broken link (its target {dest} does not exist)")
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return LoadError(str(item), "the link loops back on itself")
        return LoadError(str(item), f"cannot follow the link ({exc.strerror or exc})")
    if not _inside(target, root):
        return SkippedItem(str(item), f"the link leads outside the imported folder (to {target})")
    return None


def _walk_folder(top: Path) -> Iterator[Path | LoadError]:
    try:
        root = os.path.realpath(top, strict=True)
    except OSError as exc:
        yield LoadError(str(top), f"cannot read the folder ({exc.strerror or exc})")
        return
    seen: set[tuple[int, int]] = set()
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            info = os.stat(folder)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            yield LoadError(str(folder), f"cannot read the folder ({exc.strerror or exc})")
            continue
        if (info.st_dev, info.st_ino) in seen:
            continue  # a link back to a folder already walked
        seen.add((info.st_dev, info.st_ino))
        subfolders: list[Path] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            item = folder / entry.name
            if entry.is_symlink():
                verdict = _link_verdict(item, root)
                if verdict is not None:
                    yield verdict
                    continue
            try:
                mode = entry.stat().st_mode
            except OSError:
                yield item  # load_path says why it cannot be read
                continue
            if stat.S_ISDIR(mode):
                subfolders.append(item)
            elif stat.S_ISREG(mode):
                yield item
            else:
                yield SkippedItem(str(item), f"this is not a regular file ({_special_kind(mode)})")
        stack.extend(reversed(subfolders))


def walk(paths: list[Path]) -> Iterator[Path | LoadError]:
    """Files under the given paths, recursively, skipping hidden files and folders, in stable order
    (a folder's files, then its subfolders in name order).

    Inside a folder, a link whose target lies outside it yields a ``SkippedItem``, a broken or
    looping link a ``LoadError`` under the link's own path, a pipe or device a ``SkippedItem``; a
    folder reached twice through links is walked once. A folder that cannot be listed is reported
    as a ``LoadError`` in its place, not skipped silently. A path given directly is followed.
    """
    for path in paths:
        if path.is_dir():
            yield from _walk_folder(path)
        else:
            yield path
