"""The engine's records: extracted text, documents and chunks."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field

_NS = uuid.UUID("5b0c8f8e-3f1a-4b8e-9a57-0f0f007e0001")


@dataclass
class Extracted:
    """Text pulled from one file or page, with the structure chunking needs.

    ``sections`` and ``pages`` are (start offset, value) pairs in ascending order; a chunk takes the
    last heading and page at or before its start.
    """

    source: str
    title: str
    text: str
    kind: str
    sections: list[tuple[int, str]] = field(default_factory=list)
    pages: list[tuple[int, int]] = field(default_factory=list)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


@dataclass
class Chunk:
    document_id: str
    index: int
    text: str
    start: int
    end: int
    title: str = ""
    section: str = ""
    page: int | None = None
    page_start: int | None = None
    page_end: int | None = None

    @property
    def id(self) -> str:
        return str(uuid.uuid5(_NS, f"{self.document_id}:{self.index}"))


@dataclass
class Document:
    id: str
    source: str
    title: str
    kind: str
    content_hash: str
    status: str
    chunks: int = 0
    error: str = ""
    added_at: float = 0.0


def document_id_for(source: str) -> str:
    """Documents are keyed by source: re-importing the same path or URL updates one record."""
    return uuid.uuid5(_NS, source).hex[:16]


#: Words an application writes as a title when the author gave none.
_PLACEHOLDER_TITLES = frozenset({
    "untitled", "untitled document", "document", "new document", "doc", "title", "no title", "notitle",
    "slide", "presentation", "page", "draft", "blank", "default", "none", "null", "unknown", "anonymous",
    "microsoft word", "word", "word document", "microsoft word document", "new microsoft word document",
    "powerpoint presentation", "pdf", "pdf document", "file", "text", "report", "template", "normal",
    "insert title here", "enter title here", "click to edit master title style", "your title here",
})
#: "Document1", "Untitled-3", "Book 2", "Slide 1", "untitled (1)": a default name with a counter.
_NUMBERED_DEFAULT = re.compile(
    r"(untitled|document|doc|book|presentation|slide|page|sheet|draft|new document|new microsoft word document)"
    r"[\s_-]*\(?\d*\)?")
#: "Microsoft Word - report.docx": what Word's PDF printer writes, the app name and an old file name.
_APP_PREFIX = re.compile(r"(microsoft\s+)?(word|excel|powerpoint|office|outlook|visio|publisher)\s+-\s", re.I)
#: A title that is a file name or a path ("untitled.pdf", "C:\\Users\\me\\x.doc"): the real file name is better.
_FILE_NAME = re.compile(r".*\.(pdf|docx?|dotx?|rtf|odt|txt|md|markdown|rst|pptx?|xlsx?|html?|tex|dvi|ps|indd|"
                        r"pages|wpd|tmp)", re.I)


def is_placeholder_title(title: str) -> bool:
    """True for a title nobody wrote: empty, generic ("Untitled", "Document1"), an application's
    prefix ("Microsoft Word - x.docx"), a file name or path, or no letters at all."""
    clean = " ".join(title.split()).strip(" .:-_")
    if not clean or not any(ch.isalpha() for ch in clean):
        return True
    low = clean.casefold()
    return (low in _PLACEHOLDER_TITLES or _NUMBERED_DEFAULT.fullmatch(low) is not None
            or _APP_PREFIX.match(clean) is not None or _FILE_NAME.fullmatch(clean) is not None
            or low.startswith(("file:", "/", "\\")) or re.match(r"[a-z]:[\\/]", low) is not None)


def display_title(title: str, source: str) -> str:
    """A title fit to show or to put in a prompt: a placeholder (``is_placeholder_title``) or an
    empty title gives way to the file or page name."""
    clean = " ".join(title.split())
    if not is_placeholder_title(clean):
        return clean
    name = source.rstrip("/").rsplit("/", 1)[-1]
    return name or source
