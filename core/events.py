"""Progress events that ingestion yields; the CLI draws them as a bar, the window as rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

UNCHANGED = "unchanged since the last import"

EventKind = Literal["started", "chunked", "embedded", "done", "skipped", "failed", "removed"]


@dataclass(frozen=True)
class IngestEvent:
    """One step of one item. ``done``/``total`` count chunks for ``embedded``.

    ``skipped`` means the item was left alone: its ``error`` is ``UNCHANGED`` when the content was
    already indexed, else the reason it is not imported on purpose (a link out of the imported
    folder, an unsupported type). ``failed`` carries ``error``, a complete message naming the
    item and the reason. ``removed`` says a document left the library because its file left a
    watched folder.
    """

    kind: EventKind
    source: str
    title: str = ""
    document_id: str = ""
    done: int = 0
    total: int = 0
    error: str = ""
