"""What a file really is, from its first bytes: an archive, an image, a program, audio or video...

A small table of magic numbers, each one taken from the format's specification. A library such as
``filetype`` or ``puremagic`` knows more formats, but its answers come as MIME types or long format
names that would still need this table's words, and puremagic's many weak matches (short printable
byte strings) call ordinary text files binary. Footnote only has to tell text from the families it
must refuse, and say which one in words a person understands.

False positives are the danger: a text file may begin with "PK", "MZ" or "GIF89a" in prose. A
signature made only of printable characters counts only when the file's first bytes are also
binary (``looks_binary``); signatures with control bytes (``PK\\x03\\x04``, ``\\x89PNG``) cannot
occur in text and count on their own.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from typing import IO

HEAD_BYTES = 65536


@dataclass(frozen=True)
class Kind:
    """A recognised file format: ``name`` reads in a sentence ("a PNG image"), ``family`` groups it."""

    name: str
    family: str  # archive, image, program, audio, video, document, font, database


ZIP = Kind("a ZIP archive", "archive")
PDF = Kind("a PDF document", "document")
OLE = Kind("an old Microsoft Office file (.doc, .xls or .ppt)", "document")
RTF = Kind("an RTF document", "document")

# (offset, signature, kind, printable-only signature that needs binary content to count)
_SIGNATURES: list[tuple[int, bytes, Kind, bool]] = [
    (0, b"PK\x03\x04", ZIP, False),
    (0, b"PK\x05\x06", ZIP, False),
    (0, b"PK\x07\x08", ZIP, False),
    (0, b"\x1f\x8b", Kind("a gzip archive", "archive"), False),
    (0, b"7z\xbc\xaf\x27\x1c", Kind("a 7-Zip archive", "archive"), False),
    (0, b"Rar!\x1a\x07", Kind("a RAR archive", "archive"), False),
    (0, b"\xfd7zXZ\x00", Kind("an xz archive", "archive"), False),
    (0, b"\x28\xb5\x2f\xfd", Kind("a Zstandard archive", "archive"), False),
    (0, b"\x04\x22\x4d\x18", Kind("an LZ4 archive", "archive"), False),
    (0, b"BZh", Kind("a bzip2 archive", "archive"), True),
    (0, b"MSCF\x00\x00\x00\x00", Kind("a Windows cabinet archive", "archive"), False),
    (0, b"!<arch>\n", Kind("an ar archive (.deb or static library)", "archive"), True),
    (257, b"ustar", Kind("a tar archive", "archive"), True),
    (0, b"\x89PNG\r\n\x1a\n", Kind("a PNG image", "image"), False),
    (0, b"\xff\xd8\xff", Kind("a JPEG image", "image"), False),
    (0, b"GIF87a", Kind("a GIF image", "image"), True),
    (0, b"GIF89a", Kind("a GIF image", "image"), True),
    (0, b"II*\x00", Kind("a TIFF image", "image"), False),
    (0, b"MM\x00*", Kind("a TIFF image", "image"), False),
    (0, b"BM", Kind("a BMP image", "image"), True),
    (0, b"\x00\x00\x01\x00", Kind("an icon image", "image"), False),
    (0, b"8BPS", Kind("a Photoshop image", "image"), True),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", Kind("a JPEG 2000 image", "image"), False),
    (0, b"\x7fELF", Kind("a program (ELF executable or library)", "program"), False),
    (0, b"MZ", Kind("a Windows program (.exe or .dll)", "program"), True),
    (0, b"\xfe\xed\xfa\xce", Kind("a macOS program (Mach-O)", "program"), False),
    (0, b"\xfe\xed\xfa\xcf", Kind("a macOS program (Mach-O)", "program"), False),
    (0, b"\xce\xfa\xed\xfe", Kind("a macOS program (Mach-O)", "program"), False),
    (0, b"\xcf\xfa\xed\xfe", Kind("a macOS program (Mach-O)", "program"), False),
    (0, b"\xca\xfe\xba\xbe", Kind("a compiled program (Java class or macOS universal binary)", "program"), False),
    (0, b"\x00asm", Kind("a WebAssembly program", "program"), False),
    (0, b"ID3", Kind("an MP3 audio file", "audio"), True),
    (0, b"\xff\xfb", Kind("an MP3 audio file", "audio"), False),
    (0, b"\xff\xf3", Kind("an MP3 audio file", "audio"), False),
    (0, b"\xff\xf2", Kind("an MP3 audio file", "audio"), False),
    (0, b"OggS\x00", Kind("an Ogg audio or video file", "audio"), False),
    (0, b"fLaC", Kind("a FLAC audio file", "audio"), True),
    (0, b"MThd\x00\x00\x00\x06", Kind("a MIDI file", "audio"), False),
    (0, b"\x1aE\xdf\xa3", Kind("a Matroska or WebM video", "video"), False),
    (0, b"\x00\x00\x01\xba", Kind("an MPEG video", "video"), False),
    (0, b"FLV\x01", Kind("a Flash video", "video"), False),
    (0, b"0&\xb2u\x8ef\xcf\x11", Kind("a Windows Media file", "video"), False),
    (0, b"%PDF-", PDF, False),  # as ever: a file that opens so is a PDF
    (0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", OLE, False),
    (0, b"{\\rtf", RTF, False),  # RTF is all text, so it cannot wait for binary bytes; prose never opens so
    (0, b"SQLite format 3\x00", Kind("an SQLite database", "database"), False),
    (0, b"wOFF", Kind("a web font", "font"), True),
    (0, b"wOF2", Kind("a web font", "font"), True),
    (0, b"OTTO\x00", Kind("a font file", "font"), False),
    (0, b"\x00\x01\x00\x00\x00", Kind("a font file", "font"), False),
]

_RIFF = {b"WAVE": Kind("a WAV audio file", "audio"), b"AVI ": Kind("an AVI video", "video"),
         b"WEBP": Kind("a WebP image", "image")}
_FORM = {b"AIFF": Kind("an AIFF audio file", "audio"), b"AIFC": Kind("an AIFF audio file", "audio")}
_FTYP_IMAGE = {b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis"}
_FTYP_AUDIO = {b"M4A ", b"M4B ", b"M4P "}

_TEXT_CONTROLS = bytes(range(32)).translate(None, b"\t\n\r\f\x1b")


def looks_binary(head: bytes) -> bool:
    """NUL bytes, or more than 1% control characters: no text file looks like this (UTF-16 aside,
    which starts with a byte order mark and is decoded before anyone asks)."""
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _TEXT_CONTROLS))
    return controls > len(head) * 0.01


def _container(head: bytes) -> Kind | None:
    if len(head) >= 12 and head[:4] == b"RIFF":
        return _RIFF.get(head[8:12])
    if len(head) >= 12 and head[:4] == b"FORM":
        return _FORM.get(head[8:12])
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _FTYP_IMAGE:
            return Kind("a HEIF image", "image")
        if brand in _FTYP_AUDIO:
            return Kind("an M4A audio file", "audio")
        return Kind("an MP4 or QuickTime video", "video")
    return None


def sniff(head: bytes) -> Kind | None:
    """The format that the first bytes of a file reveal, or None (text, or nothing recognised)."""
    binary: bool | None = None
    container = _container(head)
    if container is not None:
        if looks_binary(head[:HEAD_BYTES]):
            return container
        binary = False
    for offset, signature, kind, needs_binary in _SIGNATURES:
        if head[offset:offset + len(signature)] != signature:
            continue
        if needs_binary:
            if binary is None:
                binary = looks_binary(head[:HEAD_BYTES])
            if not binary:
                continue
        return kind
    return None


def describe_zip(data: bytes | IO[bytes]) -> Kind:
    """Which kind of ZIP-based file this is (Office, OpenDocument, EPUB, Java...), from its member
    names; a plain ``ZIP`` when nothing more is known or the archive cannot be read."""
    try:
        source = io.BytesIO(data) if isinstance(data, bytes) else data
        with zipfile.ZipFile(source) as zf:
            names = set(zf.namelist()[:10000])
            mimetype = zf.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, KeyError, ValueError, RuntimeError, NotImplementedError, EOFError):
        return ZIP
    if "word/document.xml" in names:
        return Kind("a Word document (.docx)", "document")
    if "xl/workbook.xml" in names:
        return Kind("an Excel workbook (.xlsx)", "document")
    if "ppt/presentation.xml" in names:
        return Kind("a PowerPoint presentation (.pptx)", "document")
    if mimetype == b"application/epub+zip":
        return Kind("an EPUB e-book", "document")
    if mimetype.startswith(b"application/vnd.oasis.opendocument"):
        return Kind("an OpenDocument file (.odt, .ods or .odp)", "document")
    if "META-INF/MANIFEST.MF" in names:
        return Kind("a Java archive (.jar)", "archive")
    return ZIP
