"""The engine's records: extracted text, documents and chunks."""

from __future__ import annotations

import hashlib
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


_PLACEHOLDER_TITLES = frozenset({"untitled", "untitled document", "document", "microsoft word", "title", "slide 1"})


def display_title(title: str, source: str) -> str:
    """A title fit to show or to put in a prompt: a placeholder ("Untitled", "Microsoft Word") or
    an empty title gives way to the file or page name."""
    clean = " ".join(title.split())
    if clean and clean.casefold() not in _PLACEHOLDER_TITLES:
        return clean
    name = source.rstrip("/").rsplit("/", 1)[-1]
    return name or source
