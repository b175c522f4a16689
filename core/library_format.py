"""What a library on disk is: its format and the pipeline that made each document's passages.

The registry records the library format (the SQLite schema) and, for every document, the pipeline
version its chunks were made with: reader, chunker and embedding model. When the reader or the
chunker changes what it produces, bump its number here; documents made before then count as
outdated, ``Engine.outdated()`` lists them and ``Engine.reprocess()`` re-reads them.

Libraries written before versions were recorded hold no format in ``meta`` and an empty pipeline
per document: they count as format 1 and as the previous pipeline (reader 1, chunker 1).
"""

from __future__ import annotations

import hashlib

from core.errors import FootnoteError

#: 1: before it was recorded. 2: meta format keys, documents.pipeline, chunks.page_start/page_end,
#: full payloads in the vector store (so either side can rebuild the other).
LIBRARY_FORMAT = 2
#: 2: the PDF reader keeps page ranges (page_start/page_end) per passage.
READER_VERSION = 2
#: 2: the chunker records the pages a passage spans.
CHUNKER_VERSION = 2
#: What a document made before versions were recorded was made with.
LEGACY_PIPELINE = ""
LEGACY_DESCRIPTION = "reader=1;chunker=1"

REPAIR_HINT = "run `footnote repair` or use Repair in the window"


def pipeline_id(embedder_id: str) -> str:
    """The pipeline version recorded per document, e.g. ``reader=2;chunker=2;embedder=minilm``."""
    return f"reader={READER_VERSION};chunker={CHUNKER_VERSION};embedder={embedder_id}"


def describe(pipeline: str) -> str:
    return pipeline or LEGACY_DESCRIPTION


def pipeline_tag(pipeline: str) -> str:
    """A short tag that goes into a document version's key, so re-processing the same text with a
    newer pipeline writes new points beside the old ones instead of colliding with them."""
    return hashlib.sha1(pipeline.encode("utf-8")).hexdigest()[:8]


class LibraryDamagedError(FootnoteError):
    """A library file is unreadable; the message names it and says how to repair it."""

    def __init__(self, path: str, reason: str) -> None:
        reason = " ".join(reason.split())  # one line, whatever SQLite or Qdrant said
        reason = reason if len(reason) <= 200 else reason[:197] + "..."
        super().__init__(f"{path}: {reason}; {REPAIR_HINT}")
        self.path = path
        self.reason = reason
