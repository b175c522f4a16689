"""Progress events that ingestion yields; the CLI draws them as a bar, the window as rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

EventKind = Literal["started", "chunked", "embedded", "done", "skipped", "failed"]


@dataclass(frozen=True)
class IngestEvent:
    """One step of one item. ``done``/``total`` count chunks for ``embedded``.

    ``skipped`` means the content was already indexed unchanged; ``failed`` carries ``error``,
    a complete message naming the item and the reason.
    """

    kind: EventKind
    source: str
    title: str = ""
    document_id: str = ""
    done: int = 0
    total: int = 0
    error: str = ""
