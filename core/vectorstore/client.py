"""Qdrant through ``qdrant-client``: local mode (``QdrantClient(path=...)``) and a server or cluster
(``QdrantClient(url=...)``) share this one code path.

Local mode keeps every point in Python memory and scores by brute force in numpy (its client
warns past 20,000 points); a library that grows past that moves to Qdrant Edge (``move.py``).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.errors import FootnoteError, LibraryLockedError
from core.library_format import LibraryDamagedError
from core.vectorstore.base import (
    COLLECTION,
    DENSE,
    SPARSE,
    WRITE_BATCH,
    Scope,
    Sparse,
    StoredPoint,
    VectorStore,
    fused_scores,
    unit,
)

log = logging.getLogger(__name__)

# qdrant-client warns on every write past 20k points in local mode; Footnote moves such a library
# to Qdrant Edge instead of printing the advice on each import.
warnings.filterwarnings("ignore", message="Local mode is not recommended", category=UserWarning)

LOCAL_DIR = "qdrant"


#: Most hidden passages a local-mode dense search over-fetches and drops rather than filtering.
OVERFETCH_MAX = 5_000


def local_store_present(data_dir: Path) -> bool:
    return (data_dir / LOCAL_DIR / "collection" / COLLECTION).is_dir()


def _tune_local_storage(client: Any) -> None:
    """Put local mode's SQLite files in WAL mode with synchronous=NORMAL.

    qdrant-client local mode commits (and so fsyncs) once per point: about 80 points/s, slower
    than embedding. WAL with synchronous=NORMAL survives a killed process (what the crash test
    checks); only a power cut can drop the last commits, and the registry then re-imports. This
    reaches into qdrant-client's private attributes, so a change there only costs speed.
    """
    try:
        for collection in client._client.collections.values():
            conn = collection.storage.storage
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
    except AttributeError as exc:
        log.warning("qdrant local storage tuning unavailable error=%s", exc)


def open_qdrant(data_dir: Path, dim: int, qdrant_url: str = "") -> Any:
    """A QdrantClient on the library's collection, created if new. A local folder that cannot be
    read is a ``LibraryDamagedError`` naming it; another process holding it is ``LibraryLockedError``."""
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm

    folder = data_dir / LOCAL_DIR
    client: Any = None
    try:
        if qdrant_url:
            client = QdrantClient(url=qdrant_url, timeout=30)
        else:
            try:
                client = QdrantClient(path=str(folder))
            except RuntimeError as exc:
                if "already accessed" in str(exc):
                    raise LibraryLockedError(str(data_dir)) from None
                raise
        if not client.collection_exists(COLLECTION):
            # Vectors are unit length (normalised before upsert and query), so the dot product *is* the
            # cosine similarity; local mode's COSINE re-normalises every stored vector on every query,
            # which made it three times slower at 10k chunks.
            client.create_collection(
                COLLECTION, vectors_config={DENSE: qm.VectorParams(size=dim, distance=qm.Distance.DOT)},
                sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)},
            )
            if qdrant_url:
                client.create_payload_index(COLLECTION, "doc_key", qm.PayloadSchemaType.KEYWORD)
        return client
    except (FootnoteError, KeyboardInterrupt):
        if client is not None:
            client.close()
        raise
    except Exception as exc:  # noqa: BLE001 - qdrant-client raises sqlite, json, pickle and its own errors
        if client is not None:
            client.close()
        if qdrant_url:
            raise FootnoteError(f"{qdrant_url}: the Qdrant server could not be used ({type(exc).__name__}: "
                                f"{str(exc)[:160]})") from None
        raise LibraryDamagedError(str(folder), f"the vector store is damaged ({type(exc).__name__}: "
                                  f"{str(exc)[:160]})") from None


def _sparse_of(vector: Any) -> Sparse | None:
    sv = vector.get(SPARSE) if isinstance(vector, dict) else None
    if sv is None:
        return None
    return list(sv.indices), list(sv.values)


def _point(record: Any, with_payload: bool) -> StoredPoint:
    vec = record.vector if isinstance(record.vector, dict) else ({DENSE: record.vector} if record.vector else {})
    dense = vec.get(DENSE)
    return StoredPoint(str(record.id), list(dense) if dense is not None else None, _sparse_of(vec),
                       dict(record.payload or {}) if with_payload else {})


class ClientStore(VectorStore):
    """Qdrant local mode (``url`` empty) or a Qdrant server at ``url``; the client itself is the
    same either way, so the server path is the code local mode runs."""

    def __init__(self, data_dir: Path, dim: int, url: str = "", client: Any = None) -> None:
        """``client`` lets a caller hand in an already made QdrantClient (a test standing in for a server)."""
        self.url = url
        self.kind = "server" if (url or client is not None) else "local"
        self.folder = None if self.kind == "server" else data_dir / LOCAL_DIR
        self.client = client if client is not None else open_qdrant(data_dir, dim, url)
        if client is not None and not client.collection_exists(COLLECTION):
            from qdrant_client import models as qm

            client.create_collection(
                COLLECTION, vectors_config={DENSE: qm.VectorParams(size=dim, distance=qm.Distance.DOT)},
                sparse_vectors_config={SPARSE: qm.SparseVectorParams(modifier=qm.Modifier.IDF)})
        info = self.client.get_collection(COLLECTION)
        self.has_sparse = SPARSE in (info.config.params.sparse_vectors or {})
        if self.kind == "local":
            _tune_local_storage(self.client)

    def describe(self) -> str:
        return self.url or (str(self.folder) if self.folder else "a Qdrant server")

    @staticmethod
    def _filter(scope: Scope, doc_key: str | None = None) -> Any:
        """Committed points only, of the scope's documents if any; None when nothing applies, so the
        common case stays an unfiltered query (local mode checks a filter in a Python loop)."""
        from qdrant_client import models as qm

        must: list[Any] = []
        if scope.document_ids:
            must.append(qm.FieldCondition(key="document_id", match=qm.MatchAny(any=list(scope.document_ids))))
        if doc_key is not None:
            must.append(qm.FieldCondition(key="doc_key", match=qm.MatchValue(value=doc_key)))
        must_not: list[Any] = [qm.FieldCondition(key="doc_key", match=qm.MatchAny(any=list(scope.hidden)))
                               ] if scope.hidden else []
        if not must and not must_not:
            return None
        return qm.Filter(must=must or None, must_not=must_not or None)

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        from qdrant_client import models as qm

        for i in range(0, len(points), WRITE_BATCH):
            structs = []
            for p in points[i:i + WRITE_BATCH]:
                vector: dict[str, Any] = {}
                if p.dense is not None:
                    vector[DENSE] = p.dense
                if p.sparse is not None and self.has_sparse:
                    vector[SPARSE] = qm.SparseVector(indices=p.sparse[0], values=p.sparse[1])
                structs.append(qm.PointStruct(id=p.id, vector=vector, payload=p.payload))
            self.client.upsert(COLLECTION, points=structs, wait=True)

    def delete_ids(self, ids: Sequence[str]) -> None:
        from qdrant_client import models as qm

        for i in range(0, len(ids), WRITE_BATCH * 4):
            self.client.delete(COLLECTION, points_selector=qm.PointIdsList(points=list[Any](ids[i:i + WRITE_BATCH * 4])),
                               wait=True)

    def delete_doc_key(self, doc_key: str) -> None:
        from qdrant_client import models as qm

        self.client.delete(COLLECTION, points_selector=qm.FilterSelector(filter=self._filter(Scope(), doc_key)), wait=True)

    def set_payload(self, ids: Sequence[str], payload: dict[str, Any]) -> None:
        for i in range(0, len(ids), WRITE_BATCH * 4):
            self.client.set_payload(COLLECTION, payload, points=list[Any](ids[i:i + WRITE_BATCH * 4]), wait=True)

    def dense(self, vector: np.ndarray, limit: int, scope: Scope) -> dict[str, float]:
        query = unit(vector).tolist()
        if self.kind == "local" and scope.hidden and not scope.document_ids and scope.hidden_points <= OVERFETCH_MAX:
            # Local mode checks a filter in a Python loop over every point (16 ms became 210 ms at 10k
            # while a document imported): fetch the hidden passages' worth more and drop them instead.
            # Fewer than ``limit`` left from a full page means the count was short: filter after all.
            hidden = set(scope.hidden)
            wanted = limit + scope.hidden_points
            res = self.client.query_points(COLLECTION, query=query, using=DENSE, limit=wanted,
                                           with_payload=["doc_key"])
            out: dict[str, float] = {}
            for p in res.points:
                if (p.payload or {}).get("doc_key") not in hidden:
                    out[str(p.id)] = float(p.score)
                    if len(out) >= limit:
                        return out
            if len(res.points) < wanted:
                return out
        res = self.client.query_points(COLLECTION, query=query, using=DENSE,
                                       query_filter=self._filter(scope), limit=limit, with_payload=False)
        return {str(p.id): float(p.score) for p in res.points}

    def hybrid(self, dense: np.ndarray | None, sparse: Sparse | None, limit: int,
               scope: Scope) -> tuple[dict[str, float], dict[str, float]]:
        from qdrant_client import models as qm

        q_sparse = qm.SparseVector(indices=sparse[0], values=sparse[1]) if sparse else None
        flt = self._filter(scope)
        if dense is None:
            if q_sparse is None:
                return {}, {}
            res = self.client.query_points(COLLECTION, query=q_sparse, using=SPARSE, limit=limit,
                                           query_filter=flt, with_payload=False)
            return {str(p.id): float(p.score) for p in res.points}, {}
        qd = unit(dense)
        prefetch = [qm.Prefetch(query=qd.tolist(), using=DENSE, limit=max(limit, 50), filter=flt)]
        if q_sparse is not None:
            prefetch.append(qm.Prefetch(query=q_sparse, using=SPARSE, limit=max(limit, 50), filter=flt))
        res = self.client.query_points(COLLECTION, prefetch=prefetch, query_filter=flt,
                                       query=qm.FusionQuery(fusion=qm.Fusion.DBSF), limit=limit,
                                       with_payload=False, with_vectors=[DENSE])
        return fused_scores(res.points, qd, str)

    def retrieve(self, ids: Sequence[str], with_payload: bool = False,
                 with_vectors: bool = True) -> list[StoredPoint]:
        if not ids:
            return []
        recs = self.client.retrieve(COLLECTION, ids=list[Any](ids), with_payload=with_payload,
                                    with_vectors=with_vectors)
        return [_point(r, with_payload) for r in recs]

    def scroll(self, offset: Any = None, limit: int = 1024, doc_key: str | None = None,
               with_payload: bool = True, with_vectors: bool = True) -> tuple[list[StoredPoint], Any]:
        recs, nxt = self.client.scroll(COLLECTION, scroll_filter=self._filter(Scope(), doc_key) if doc_key else None,
                                       limit=limit, offset=offset, with_payload=with_payload, with_vectors=with_vectors)
        return [_point(r, with_payload) for r in recs], nxt

    def count(self) -> int:
        return int(self.client.count(COLLECTION, exact=True).count)

    def close(self) -> None:
        self.client.close()
