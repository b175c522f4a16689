"""The vector store behind one small interface (``base.VectorStore``) with three implementations:
Qdrant local mode and a Qdrant server (``client.ClientStore``), and Qdrant Edge (``edge.EdgeStore``).
The library records which one it uses (registry meta ``vector_store``); ``move.py`` moves a
library from one to another."""

from __future__ import annotations

from pathlib import Path

from core.vectorstore.base import COLLECTION, DENSE, KINDS, SPARSE, Scope, StoredPoint, VectorStore, unit
from core.vectorstore.client import LOCAL_DIR, local_store_present
from core.vectorstore.edge import EDGE_DIR, edge_store_present

__all__ = ["COLLECTION", "DENSE", "EDGE_DIR", "KINDS", "LOCAL_DIR", "SPARSE", "Scope", "StoredPoint", "VectorStore",
           "open_store", "store_folder", "store_present", "unit"]

#: A library past this many passages moves from local mode to Qdrant Edge (local mode's client
#: recommends no more than 20,000 points: it holds them all in Python memory).
EDGE_THRESHOLD = 20_000


def store_folder(data_dir: Path, kind: str) -> Path | None:
    return {"local": data_dir / LOCAL_DIR, "edge": data_dir / EDGE_DIR}.get(kind)


def store_present(data_dir: Path, kind: str) -> bool:
    """Whether an embedded store of this kind exists in the library (a server always counts)."""
    if kind == "local":
        return local_store_present(data_dir)
    if kind == "edge":
        return edge_store_present(data_dir)
    return True


def open_store(data_dir: Path, kind: str, dim: int, url: str = "", create: bool = True) -> VectorStore:
    """The library's store of ``kind`` (created when new and ``create``)."""
    if kind == "edge":
        from core.vectorstore.edge import EdgeStore

        return EdgeStore(data_dir / EDGE_DIR, dim, create=create)
    if kind not in KINDS:
        raise ValueError(f"unknown vector store {kind!r}")
    from core.vectorstore.client import ClientStore

    return ClientStore(data_dir, dim, url if kind == "server" else "")
