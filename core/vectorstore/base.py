"""The vector-store interface every library's store implements.

Footnote keeps one point per passage: a unit-length dense vector (``dense``), an optional BM25
sparse vector (``bm25``, scored with Qdrant's IDF modifier) and a payload that carries the
passage's text and its document's metadata (so the registry can be rebuilt from the store alone).
Three stores implement it: Qdrant local mode and a Qdrant server through ``qdrant-client``
(``client.py``, one code path), and Qdrant Edge in-process (``edge.py``).

Search always runs in a ``Scope``: the passages of some documents only, and never those of an
uncommitted document version (``hidden`` keys). Each store turns the scope into its own filter
inside the query, so an import in progress never crowds committed passages out of the candidates.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

COLLECTION = "footnote_chunks"
DENSE = "dense"
SPARSE = "bm25"
#: Points per store call: every Qdrant Edge call holds the GIL for its whole duration, so a
#: bounded batch keeps a write from stalling the window's event loop (a 30k-point upsert: 1.2 s).
WRITE_BATCH = 256
#: Points per scroll page.
SCROLL_BATCH = 1024

KINDS = ("local", "edge", "server")

Sparse = tuple[list[int], list[float]]


def unit(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 vectors, so the dot product is the cosine similarity."""
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.asarray(vectors / np.where(norms == 0, 1.0, norms), dtype=np.float32)


@dataclass
class StoredPoint:
    """One passage's point: its id, dense vector, optional sparse vector and payload."""

    id: str
    dense: list[float] | None = None
    sparse: Sparse | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scope:
    """Which points a search may see: of ``document_ids`` if given, never of a ``hidden`` version key.
    ``hidden_points`` is how many passages the registry holds for the hidden keys (a store may
    over-fetch by that many and drop them instead of filtering)."""

    document_ids: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    hidden_points: int = 0

    @property
    def empty(self) -> bool:
        return not self.document_ids and not self.hidden


class VectorStore(ABC):
    """A library's vector store. Not thread-safe on its own: the Index calls it under its lock."""

    kind: str = ""
    #: The folder the store lives in (None for a server).
    folder: Path | None = None
    #: Whether the collection has the ``bm25`` sparse vector (a library made before it had none).
    has_sparse: bool = True

    @abstractmethod
    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points, durably (acknowledged writes survive a killed process)."""

    @abstractmethod
    def delete_ids(self, ids: Sequence[str]) -> None: ...

    @abstractmethod
    def delete_doc_key(self, doc_key: str) -> None:
        """Delete every point of one document version (payload ``doc_key``)."""

    @abstractmethod
    def set_payload(self, ids: Sequence[str], payload: dict[str, Any]) -> None:
        """Merge ``payload`` into these points' payloads."""

    @abstractmethod
    def dense(self, vector: np.ndarray, limit: int, scope: Scope) -> dict[str, float]:
        """Point id -> cosine of the ``limit`` nearest points in scope (``vector`` is unit length)."""

    @abstractmethod
    def hybrid(self, dense: np.ndarray | None, sparse: Sparse | None, limit: int,
               scope: Scope) -> tuple[dict[str, float], dict[str, float]]:
        """BM25 alone, or dense and BM25 prefetches fused by the Query API (DBSF). Returns (score
        per point, dense cosine per point); every prefetch carries the scope's filter."""

    @abstractmethod
    def retrieve(self, ids: Sequence[str], with_payload: bool = False,
                 with_vectors: bool = True) -> list[StoredPoint]:
        """The points with these ids that exist (vectors: dense and sparse when stored)."""

    @abstractmethod
    def scroll(self, offset: Any = None, limit: int = SCROLL_BATCH, doc_key: str | None = None,
               with_payload: bool = True, with_vectors: bool = True) -> tuple[list[StoredPoint], Any]:
        """One page of points (of one version if ``doc_key``) and the offset of the next page (None at the end)."""

    @abstractmethod
    def count(self) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    def compact_due(self) -> bool:
        """Whether the store would open faster and smaller after ``compact`` (Qdrant Edge only)."""
        return False

    def compact(self) -> bool:
        """Compact the store (see ``compact.py``); True when it did."""
        return False

    def ids(self) -> Iterator[str]:
        """Every point id, page by page (each page one bounded call)."""
        offset: Any = None
        while True:
            page, offset = self.scroll(offset, SCROLL_BATCH * 4, with_payload=False, with_vectors=False)
            yield from (p.id for p in page)
            if offset is None:
                return

    def points(self, with_vectors: bool = True) -> Iterator[StoredPoint]:
        """Every point with its payload, page by page."""
        offset: Any = None
        while True:
            page, offset = self.scroll(offset, SCROLL_BATCH, with_payload=True, with_vectors=with_vectors)
            yield from page
            if offset is None:
                return

    def describe(self) -> str:
        """Where the store is, for messages and logs."""
        return str(self.folder) if self.folder is not None else self.kind


def fused_scores(points: Iterable[Any], query: np.ndarray,
                 point_id: Callable[[Any], str]) -> tuple[dict[str, float], dict[str, float]]:
    """(fused score, dense cosine with ``query``) per point of a hybrid query that returned each
    point's dense vector; the cosine is what abstention looks at."""
    scores: dict[str, float] = {}
    cosines: dict[str, float] = {}
    for p in points:
        pid = point_id(p.id)
        scores[pid] = float(p.score)
        vec = p.vector.get(DENSE) if isinstance(p.vector, dict) else None
        if vec is not None:
            cosines[pid] = float(np.dot(np.asarray(vec, dtype=np.float32), query))
    return scores, cosines
