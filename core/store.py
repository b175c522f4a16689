"""The index: a vector store (``core.vectorstore``) for the points, SQLite for the document registry,
chunk text and FTS5.

A document version is keyed ``doc_key = "<document id>:<content hash prefix>"``. New chunks are
written under a pending key and become searchable only when the registry flips ``ready_key`` to
it in one SQLite transaction; the old version's chunks are then deleted. After a crash, pending
and stale keys recorded in the registry are cleaned up on open, so there is never half a document.

One lock guards every call: Qdrant local mode is not safe for concurrent writes. The registry records
which store the library uses (meta ``vector_store``: local, edge or server, and ``vector_url``).
"""

from __future__ import annotations

import fcntl
import logging
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

from core.documents import Chunk, Document
from core.errors import FootnoteError, LibraryLockedError
from core.library_format import LIBRARY_FORMAT, LibraryDamagedError, pipeline_tag
from core.vectorstore import (
    COLLECTION,
    EDGE_THRESHOLD,
    LOCAL_DIR,
    Scope,
    StoredPoint,
    VectorStore,
    open_store,
    store_folder,
    store_present,
    unit,
)
from core.vectorstore.client import open_qdrant

log = logging.getLogger(__name__)

__all__ = ["COLLECTION", "LOCAL_DIR", "DataDirLock", "Index", "open_qdrant", "open_registry", "unit"]
LARGE_LOCAL_LIBRARY = EDGE_THRESHOLD
_NS = uuid.UUID("5b0c8f8e-3f1a-4b8e-9a57-0f0f007e0002")

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT UNIQUE NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    chunks INTEGER NOT NULL DEFAULT 0,
    error TEXT NOT NULL DEFAULT '',
    added_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ready_key TEXT,
    pending_key TEXT,
    stale_key TEXT,
    pipeline TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    point_id TEXT UNIQUE NOT NULL,
    doc_key TEXT NOT NULL,
    document_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    text TEXT NOT NULL,
    section TEXT NOT NULL,
    page INTEGER,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    page_start INTEGER,
    page_end INTEGER
);
CREATE INDEX IF NOT EXISTS chunks_doc_key ON chunks(doc_key);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, tokenize='porter unicode61');
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


#: Columns added since format 1, with their declarations: an older registry gains them on open.
_MIGRATIONS = {
    "documents": (("pipeline", "TEXT NOT NULL DEFAULT ''"),),
    "chunks": (("page_start", "INTEGER"), ("page_end", "INTEGER")),
}
REGISTRY_FILE = "library.sqlite3"
VECTORS_DIR = LOCAL_DIR
#: What every point's payload carries, so the registry can be rebuilt from the vector store alone.
PAYLOAD_KEYS = ("doc_key", "document_id", "source", "title", "kind", "content_hash", "added_at", "pipeline",
                "index", "text", "start", "end", "section", "page", "page_start", "page_end")

_CHUNK_KEYS = ("point_id", "document_id", "source", "title", "section", "page", "text", "start", "end", "index",
               "page_start", "page_end")


def point_id(doc_key: str, index: int) -> str:
    return str(uuid.uuid5(_NS, f"{doc_key}:{index}"))


STOPWORDS = frozenset("""
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
once only or other our ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were what when where which
while who whom why will with would you your yours yourself yourselves s t
""".split())


def fts_query(text: str) -> str:
    """An OR of the query's content words, each quoted, so user text can never be FTS5 syntax.

    Stop words are dropped: they match nearly every chunk, which made FTS5 rank the whole
    library for each query, and BM25's IDF gives them almost no weight anyway.
    """
    import re

    words = re.findall(r"\w+", text.lower())
    seen: list[str] = []
    for w in words:
        if w not in seen and w not in STOPWORDS:
            seen.append(w)
    if not seen:  # a query of only stop words still searches
        seen = list(dict.fromkeys(words))
    return " OR ".join(f'"{w}"' for w in seen[:64])


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a registry written by an older Footnote up to ``LIBRARY_FORMAT``: add the new columns
    (their defaults mean "made by the previous pipeline") and record the format."""
    for table, columns in _MIGRATIONS.items():
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for name, decl in columns:
            if name not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {decl}")
    row = db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
    if row is None or row[0] != str(LIBRARY_FORMAT):
        log.info("registry format from=%s to=%d", row[0] if row else 1, LIBRARY_FORMAT)
        db.execute("INSERT INTO meta(key, value) VALUES('format', ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                   (str(LIBRARY_FORMAT),))


def _checked_path(path: Path) -> Path:
    return path.with_name(path.name + ".checked")


def _file_stamp(path: Path) -> str:
    """Size and modification time of the registry and its WAL: any write, and any damage done to
    the files from outside, changes them."""
    parts = []
    for f in (path, path.with_name(path.name + "-wal")):
        try:
            st = f.stat()
            parts.append(f"{st.st_size}:{st.st_mtime_ns}")
        except FileNotFoundError:
            parts.append("-")
    return " ".join(parts)


def mark_registry_checked(path: Path) -> None:
    """After a clean close: the file as it is now needs no quick_check at the next open."""
    try:
        _checked_path(path).write_text(_file_stamp(path), encoding="utf-8")
    except OSError:
        pass


def open_registry(path: Path, check: bool = True) -> sqlite3.Connection:
    """Open (or create) the registry, migrated to the current format.

    ``check`` runs SQLite's quick_check first, so a damaged file is one clear error at open and
    not a "database disk image is malformed" in the middle of a search. quick_check reads the whole
    file (0.45 s at 100,000 passages), so it is skipped when the file is exactly as this program
    left it at its last clean close (same size and modification time, ``mark_registry_checked``);
    a crash, or any change to the files after that close, means a full check. Damage that changes
    neither size nor modification time (a failing disk) is found when SQLite reads the page.
    """
    checked = _checked_path(path)
    try:
        unchanged = checked.read_text(encoding="utf-8") == _file_stamp(path)
        checked.unlink()  # open from here on: the next open checks unless this one closes cleanly
    except OSError:
        unchanged = False
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    try:
        if check and not unchanged:
            problems = [r[0] for r in db.execute("PRAGMA quick_check(3)").fetchall()]
            if problems != ["ok"]:
                lines = [ln.strip() for p in problems for ln in str(p).splitlines()]
                raise sqlite3.DatabaseError(next((ln for ln in lines if ln and not ln.startswith("***")),
                                                 "the integrity check failed"))
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        _migrate(db)
    except sqlite3.DatabaseError as exc:
        db.close()
        raise LibraryDamagedError(str(path), f"the library registry is damaged ({exc})") from None
    return db


def chunk_payload(doc_key: str, meta: dict[str, Any], chunk: Chunk, pipeline: str) -> dict[str, Any]:
    """Everything the registry keeps about a passage, so the vector store alone can rebuild it."""
    return {"doc_key": doc_key, "document_id": chunk.document_id, "source": meta.get("source", ""),
            "title": meta.get("title", ""), "kind": meta.get("kind", ""), "content_hash": meta.get("content_hash", ""),
            "added_at": meta.get("added_at", 0.0), "pipeline": pipeline, "index": chunk.index, "text": chunk.text,
            "start": chunk.start, "end": chunk.end, "section": chunk.section, "page": chunk.page,
            "page_start": chunk.page_start, "page_end": chunk.page_end}


def library_store(data_dir: Path, qdrant_url: str = "") -> tuple[str, str]:
    """(kind, url) of the store a library records, read without opening it (repair uses this on a
    library that cannot be opened): a ``qdrant_url`` setting means that server; an unreadable
    registry falls back to the store folder that is present."""
    if qdrant_url:
        return "server", qdrant_url
    try:
        db = sqlite3.connect(f"file:{data_dir / REGISTRY_FILE}?mode=ro", uri=True)
        try:
            rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('vector_store', 'vector_url')"))
        finally:
            db.close()
    except sqlite3.Error:
        rows = {}
    kind = str(rows.get("vector_store", ""))
    if kind in ("local", "edge", "server"):
        return kind, str(rows.get("vector_url", "")) if kind == "server" else ""
    if not store_present(data_dir, "local") and store_present(data_dir, "edge"):
        return "edge", ""
    return "local", ""


def _remove_moved_stores(data_dir: Path) -> None:
    """Delete what a finished move left behind (``<store>.moved-<time>``: the old store, renamed at the
    switch; a crash before its deletion leaves it for the next open)."""
    import shutil

    for leftover in data_dir.glob("*.moved-*"):
        shutil.rmtree(leftover, ignore_errors=True)


class DataDirLock:
    """An exclusive, process-wide lock on the data folder (released by the OS if we crash)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.data_dir / "footnote.lock", "a+", encoding="utf-8")  # noqa: SIM115 - held open on purpose
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise LibraryLockedError(str(self.data_dir)) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None


class Index:
    def __init__(self, data_dir: Path, dim: int, qdrant_url: str = "", pipeline: str = "",
                 vector_store: str = "auto") -> None:
        """``pipeline`` is what this process makes passages with (``library_format.pipeline_id``);
        it is recorded per document at commit and in every point's payload. ``vector_store`` is the
        setting of that name (auto, local or edge): which store a new library starts on; a library
        keeps the store its registry records, and a ``qdrant_url`` setting means that server."""
        self.data_dir = data_dir
        self.dim = dim
        self.qdrant_url = qdrant_url
        self.pipeline = pipeline
        self.vector_store = vector_store
        self.lock = threading.RLock()
        self._db = open_registry(data_dir / REGISTRY_FILE)
        self._store: VectorStore | None = None
        self._hidden: set[str] = set()
        self._pending: dict[str, dict[str, Any]] = {}  # doc_key -> source, title, kind, hash, added_at
        self.store_kind, self.store_url = self._resolve_store()

    # -- the vector store -----------------------------------------------------------------------

    def _resolve_store(self) -> tuple[str, str]:
        """Which store this library uses: recorded in meta; a library from before stores were
        recorded (its points in local mode) is local; a new one starts where the setting says."""
        if self.qdrant_url:
            return "server", self.qdrant_url
        meta = self.format_info()
        kind = meta.get("vector_store", "")
        if kind in ("local", "edge", "server"):
            return kind, meta.get("vector_url", "") if kind == "server" else ""
        if store_present(self.data_dir, "local") or self.ready_chunk_count():
            kind = "local"
        elif self.vector_store == "edge" or store_present(self.data_dir, "edge"):
            kind = "edge"
        else:
            kind = "local"
        self.set_meta({"vector_store": kind})
        return kind, ""

    def set_meta(self, values: dict[str, str | None]) -> None:
        """Write (or, for None, delete) registry meta keys in one transaction."""
        with self._tx():
            for key, value in values.items():
                if value is None:
                    self._db.execute("DELETE FROM meta WHERE key=?", (key,))
                else:
                    self._db.execute("INSERT INTO meta(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET "
                                     "value=excluded.value", (key, value))

    @property
    def has_sparse(self) -> bool:
        return self.store.has_sparse

    @property
    def wants_sparse(self) -> bool:
        """Whether new passages need BM25 sparse vectors: Edge and server search keywords with them."""
        return self.store_kind != "local"

    @property
    def store(self) -> VectorStore:
        """The one vector store of this process, opened on first use (local mode loads all points)."""
        with self.lock:
            if self._store is None:
                self._store = self._open_store()
                try:
                    self._recover()
                    self._check_vectors()
                except BaseException:
                    self._store.close()
                    self._store = None
                    raise
            return self._store

    #: The name the engine and tests have used for the store: opening it is what matters.
    client = store

    def ready_chunk_count(self) -> int:
        with self.lock:
            row = self._db.execute("SELECT count(*) FROM chunks WHERE doc_key IN "
                                   "(SELECT ready_key FROM documents WHERE ready_key IS NOT NULL)").fetchone()
        return int(row[0])

    def _check_vectors(self) -> None:
        """Every searchable passage needs its vector: fewer points than ready chunks means the vector
        store lost some (a folder deleted or replaced), which search would otherwise hide."""
        expected = self.ready_chunk_count()
        if not expected or self._store is None:
            return
        points = self._store.count()
        if points < expected:
            raise LibraryDamagedError(self._store.describe(),
                                      f"the vector store holds {points} of the library's {expected} passages")

    def _open_store(self) -> VectorStore:
        t0 = time.perf_counter()
        kind = self.store_kind
        if kind != "server" and not store_present(self.data_dir, kind) and self.ready_chunk_count():
            # An empty store would quietly be made here and search would find nothing.
            raise LibraryDamagedError(str(store_folder(self.data_dir, kind)), "the vector store folder is missing")
        store = open_store(self.data_dir, kind, self.dim, self.store_url)
        _remove_moved_stores(self.data_dir)
        log.info("vector store open kind=%s ms=%.0f", kind, (time.perf_counter() - t0) * 1000)
        return store

    def switch_store(self, store: VectorStore, url: str = "",
                     extra_meta: dict[str, str | None] | None = None) -> VectorStore | None:
        """Make ``store`` (complete, checked by the caller) this library's store: recorded in meta in one
        transaction (with ``extra_meta``), then used by every call. Returns the previous store, still
        open, for the caller."""
        with self.lock:
            self.set_meta({"vector_store": store.kind, "vector_url": url or None, **(extra_meta or {})})
            old, self._store = self._store, store
            self.store_kind, self.store_url = store.kind, url
            return old

    # -- what a store move copies (core.vectorstore.move) ----------------------------------------

    def chunk_page(self, after_rowid: int, limit: int) -> list[tuple[int, str, str]]:
        """(rowid, point id, text) of the next ``limit`` chunk rows after ``after_rowid``."""
        with self.lock:
            rows = self._db.execute("SELECT rowid, point_id, text FROM chunks WHERE rowid > ? ORDER BY rowid LIMIT ?",
                                    (after_rowid, limit)).fetchall()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def chunk_progress(self, after_rowid: int) -> tuple[int, int]:
        """(chunk rows up to ``after_rowid``, all chunk rows)."""
        with self.lock:
            done = self._db.execute("SELECT count(*) FROM chunks WHERE rowid <= ?", (after_rowid,)).fetchone()[0]
            total = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return int(done), int(total)

    def chunk_point_ids(self) -> set[str]:
        with self.lock:
            return {str(r[0]) for r in self._db.execute("SELECT point_id FROM chunks")}

    def point_ids_changed_since(self, when: float) -> set[str]:
        """Point ids of the live versions committed (or noted) at or after ``when``."""
        with self.lock:
            rows = self._db.execute("SELECT c.point_id FROM chunks c JOIN documents d ON d.ready_key = c.doc_key "
                                    "WHERE d.updated_at >= ?", (when,)).fetchall()
        return {str(r[0]) for r in rows}

    def _delete_key(self, doc_key: str, ids: Sequence[str] | None = None) -> None:
        with self.lock:
            if ids:
                self.store.delete_ids(list(ids))
            else:
                self.store.delete_doc_key(doc_key)
            rows = self._db.execute("SELECT rowid FROM chunks WHERE doc_key=?", (doc_key,)).fetchall()
            with self._tx():
                self._db.executemany("DELETE FROM chunks_fts WHERE rowid=?", rows)
                self._db.execute("DELETE FROM chunks WHERE doc_key=?", (doc_key,))

    def _recover(self) -> None:
        """Remove what a crash left: chunks of unfinished imports and of replaced versions."""
        rows = self._db.execute(
            "SELECT id, pending_key, stale_key, ready_key FROM documents "
            "WHERE pending_key IS NOT NULL OR stale_key IS NOT NULL").fetchall()
        for doc_id, pending, stale, ready in rows:
            for key in (pending, stale):
                if key and key != ready:
                    log.info("recover removing unfinished chunks doc=%s key=%s", doc_id, key)
                    self._delete_key(key)
            with self._tx():
                self._db.execute("UPDATE documents SET pending_key=NULL, stale_key=NULL WHERE id=?", (doc_id,))
                self._db.execute("DELETE FROM documents WHERE id=? AND ready_key IS NULL "
                                 "AND status IN ('importing', 'removing')", (doc_id,))

    # -- SQLite helpers -------------------------------------------------------------------------

    @contextmanager
    def _tx(self) -> Iterator[None]:
        with self.lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def version(self) -> int:
        with self.lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='version'").fetchone()
        return int(row[0]) if row else 0

    def _bump(self) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES('version', '1') "
            "ON CONFLICT(key) DO UPDATE SET value=CAST(value AS INTEGER)+1")

    # -- documents ------------------------------------------------------------------------------

    def _doc(self, row: tuple[Any, ...]) -> Document:
        return Document(id=row[0], source=row[1], title=row[2], kind=row[3], content_hash=row[4], status=row[5],
                        chunks=row[6], error=row[7], added_at=row[8])

    _DOC_COLS = "id, source, title, kind, content_hash, status, chunks, error, added_at"

    def documents(self) -> list[Document]:
        with self.lock:
            rows = self._db.execute(f"SELECT {self._DOC_COLS} FROM documents WHERE status != 'removing' ORDER BY added_at, source").fetchall()
        return [self._doc(r) for r in rows]

    def find(self, source_or_id: str) -> Document | None:
        with self.lock:
            row = self._db.execute(f"SELECT {self._DOC_COLS} FROM documents WHERE id=? OR source=?",
                                   (source_or_id, source_or_id)).fetchone()
        return self._doc(row) if row else None

    def ready_hash(self, document_id: str) -> str | None:
        with self.lock:
            row = self._db.execute("SELECT content_hash FROM documents WHERE id=? AND ready_key IS NOT NULL",
                                   (document_id,)).fetchone()
        return row[0] if row else None

    def passage_vectors(self, document_ids: Sequence[str], limit: int = 50_000) -> list[tuple[str, np.ndarray]]:
        """(text, stored vector) of the searchable passages of these documents, for those made with
        this process's pipeline (the vectors a re-import of the same text may re-use), at most ``limit``."""
        if not document_ids:
            return []
        marks = ",".join("?" * len(document_ids))
        with self.lock:
            rows = self._db.execute(
                f"SELECT c.point_id, c.text FROM chunks c JOIN documents d ON d.ready_key = c.doc_key "
                f"WHERE d.id IN ({marks}) AND d.pipeline = ? LIMIT ?",
                (*document_ids, self.pipeline, limit)).fetchall()
            if not rows:
                return []
            texts = dict(rows)
            points = self.store.retrieve(list(texts), with_payload=False)
        return [(texts[p.id], np.asarray(p.dense, dtype=np.float32)) for p in points
                if p.dense is not None and p.id in texts]

    def begin(self, doc_id: str, source: str, title: str, kind: str, content_hash: str) -> str:
        """Register an import; returns the pending key its chunks are written under. The key names the
        content and the pipeline, so re-processing unchanged text with a newer pipeline is a new version."""
        key = f"{doc_id}:{content_hash[:16]}:{pipeline_tag(self.pipeline)}"
        now = time.time()
        with self.lock:
            _ = self.client  # recover before writing
            if key == self._ready_key(doc_id):
                if self.ready_pipeline(doc_id) == self.pipeline:
                    raise FootnoteError(f"{source}: this version is already indexed")
                # Recorded as made by another pipeline under this very key: the new passages need
                # points of their own, so the old ones stay searchable until the commit.
                key = f"{key}:{uuid.uuid4().hex[:8]}"
            row = self._db.execute("SELECT pending_key FROM documents WHERE id=?", (doc_id,)).fetchone()
            if row and row[0] and row[0] in self._hidden:
                raise FootnoteError(f"{source}: this document is already being imported")
            self._hidden.add(key)
            added = self._db.execute("SELECT added_at FROM documents WHERE id=?", (doc_id,)).fetchone()
            self._pending[key] = {"source": source, "title": title, "kind": kind, "content_hash": content_hash,
                                  "added_at": added[0] if added else now}
            with self._tx():
                self._db.execute(
                    "INSERT INTO documents(id, source, title, kind, content_hash, status, added_at, updated_at, "
                    "pending_key) VALUES(?,?,?,?,?,'importing',?,?,?) "
                    "ON CONFLICT(id) DO UPDATE SET pending_key=excluded.pending_key, updated_at=excluded.updated_at, "
                    "status=CASE WHEN ready_key IS NULL THEN 'importing' ELSE status END",
                    (doc_id, source, title, kind, content_hash, now, now, key))
        return key

    def _ready_key(self, doc_id: str) -> str | None:
        with self.lock:
            row = self._db.execute("SELECT ready_key FROM documents WHERE id=?", (doc_id,)).fetchone()
        return row[0] if row else None

    def write_chunks(self, doc_key: str, chunks: Sequence[Chunk], vectors: np.ndarray,
                     sparse: Sequence[tuple[list[int], list[float]]] | None = None) -> None:
        ids = [point_id(doc_key, c.index) for c in chunks]
        dense = unit(vectors).tolist()
        meta = self._pending.get(doc_key) or self._doc_meta(doc_key)
        points = [StoredPoint(pid, vec, sparse[i] if sparse is not None else None,
                              chunk_payload(doc_key, meta, c, self.pipeline))
                  for i, (pid, vec, c) in enumerate(zip(ids, dense, chunks))]
        with self.lock:
            self.store.upsert(points)
            with self._tx():
                for pid, c in zip(ids, chunks):
                    cur = self._db.execute(
                        "INSERT INTO chunks(point_id, doc_key, document_id, idx, text, section, page, start, end, "
                        "page_start, page_end) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                        (pid, doc_key, c.document_id, c.index, c.text, c.section, c.page, c.start, c.end,
                         c.page_start, c.page_end))
                    search_text = f"{c.section}\n{c.text}" if c.section else c.text
                    self._db.execute("INSERT INTO chunks_fts(rowid, text) VALUES(?, ?)", (cur.lastrowid, search_text))

    def _doc_meta(self, doc_key: str) -> dict[str, Any]:
        row = self._db.execute("SELECT source, title, kind, content_hash, added_at FROM documents "
                               "WHERE pending_key=? OR ready_key=?", (doc_key, doc_key)).fetchone()
        return dict(zip(("source", "title", "kind", "content_hash", "added_at"), row)) if row else {}

    def commit(self, doc_id: str, doc_key: str, title: str, kind: str, content_hash: str, n_chunks: int) -> None:
        """Make the new version visible and the old one invisible in one transaction."""
        with self.lock:
            row = self._db.execute("SELECT ready_key, chunks FROM documents WHERE id=?", (doc_id,)).fetchone()
            old, old_n = (row[0], row[1]) if row else (None, 0)
            with self._tx():
                cur = self._db.execute(
                    "UPDATE documents SET ready_key=?, pending_key=NULL, stale_key=?, status='ready', chunks=?, "
                    "title=?, kind=?, content_hash=?, error='', updated_at=?, pipeline=? WHERE id=? AND pending_key=?",
                    (doc_key, old, n_chunks, title, kind, content_hash, time.time(), self.pipeline, doc_id, doc_key))
                if cur.rowcount == 0:
                    raise FootnoteError("the document was removed while it was being imported")
                self._db.execute("INSERT INTO meta(key, value) VALUES('pipeline', ?) "
                                 "ON CONFLICT(key) DO UPDATE SET value=excluded.value", (self.pipeline,))
                self._bump()
            self._hidden.discard(doc_key)
            self._pending.pop(doc_key, None)
        self._mark_committed(doc_key, n_chunks, title, kind, content_hash)
        # The new version is live. Removing the old one is clean-up: if it fails or is interrupted,
        # stale_key stays recorded and the next open finishes it; the live version is never touched.
        if old and old != doc_key:
            try:
                with self.lock:
                    self._hidden.add(old)
                    self._delete_key(old, [point_id(old, i) for i in range(old_n)])
                    with self._tx():
                        self._db.execute("UPDATE documents SET stale_key=NULL WHERE id=?", (doc_id,))
            except Exception as exc:  # noqa: BLE001 - recovered on the next open
                log.warning("old version clean-up deferred doc=%s error=%s", doc_id, exc)
            finally:
                self._hidden.discard(old)
        else:
            with self._tx():
                self._db.execute("UPDATE documents SET stale_key=NULL WHERE id=?", (doc_id,))

    def abort(self, doc_id: str, doc_key: str, error: str) -> None:
        """Undo an unfinished import; a previously ready version stays searchable."""
        with self.lock:
            if doc_key != self._ready_key(doc_id):
                self._delete_key(doc_key)
            self._hidden.discard(doc_key)
            self._pending.pop(doc_key, None)
            with self._tx():
                self._db.execute("UPDATE documents SET pending_key=NULL, error=?, "
                                 "status=CASE WHEN ready_key IS NULL THEN 'failed' ELSE status END WHERE id=?",
                                 (error, doc_id))

    def _mark_committed(self, doc_key: str, n_chunks: int, title: str, kind: str, content_hash: str) -> None:
        """Stamp the live version's points, so a registry rebuilt from the vector store takes this
        version and not an unfinished one. Losing the stamp only costs that rebuild a choice."""
        try:
            with self.lock:
                self.store.set_payload([point_id(doc_key, i) for i in range(n_chunks)],
                                       {"committed_at": time.time(), "chunks": n_chunks, "title": title, "kind": kind,
                                        "content_hash": content_hash})
        except Exception as exc:  # noqa: BLE001 - the registry already says it is live
            log.warning("commit stamp skipped key=%s error=%s", doc_key, exc)

    # -- library format -------------------------------------------------------------------------

    def ready_pipeline(self, document_id: str) -> str | None:
        """The pipeline a document's searchable passages were made with ('' before versions were kept)."""
        with self.lock:
            row = self._db.execute("SELECT pipeline FROM documents WHERE id=? AND ready_key IS NOT NULL",
                                   (document_id,)).fetchone()
        return str(row[0]) if row else None

    def outdated(self) -> list[Document]:
        """Searchable documents made by another pipeline than this process's."""
        with self.lock:
            rows = self._db.execute(f"SELECT {self._DOC_COLS} FROM documents WHERE ready_key IS NOT NULL "
                                    "AND status='ready' AND pipeline != ? ORDER BY added_at, source",
                                    (self.pipeline,)).fetchall()
        return [self._doc(r) for r in rows]

    def note(self, document_id: str, text: str) -> None:
        """Attach a note to a document without touching its passages or status (the list shows it)."""
        with self._tx():
            self._db.execute("UPDATE documents SET error=?, updated_at=? WHERE id=?", (text, time.time(), document_id))
            self._bump()

    def format_info(self) -> dict[str, str]:
        """What ``meta`` records about the library (format, pipeline last written with)."""
        with self.lock:
            rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        return {str(k): str(v) for k, v in rows}

    def record_failure(self, doc_id: str, source: str, error: str, kind: str = "") -> None:
        """Remember a failed item so the library panel can show its reason; never touches a ready version."""
        now = time.time()
        with self._tx():
            self._db.execute(
                "INSERT INTO documents(id, source, title, kind, status, error, added_at, updated_at) "
                "VALUES(?,?,?,?,'failed',?,?,?) ON CONFLICT(id) DO UPDATE SET error=excluded.error, "
                "updated_at=excluded.updated_at", (doc_id, source, os.path.basename(source.rstrip('/')) or source,
                                                   kind, error, now, now))

    def remove(self, doc_id: str) -> None:
        with self.lock:
            row = self._db.execute("SELECT ready_key, pending_key, chunks FROM documents WHERE id=?",
                                   (doc_id,)).fetchone()
            if row is None:
                return
            ready, pending, n = row
            # Invisible at once, with its keys recorded, so a crash before the clean-up below
            # leaves nothing searchable and the next open finishes the job.
            with self._tx():
                self._db.execute("UPDATE documents SET status='removing', ready_key=NULL, stale_key=?, "
                                 "pending_key=NULL WHERE id=?", (ready, doc_id))
                self._bump()
            for key in (ready, pending):
                if key:
                    self._hidden.add(key)
                    ids = [point_id(key, i) for i in range(n)] if key == ready else None
                    self._delete_key(key, ids)
                    self._hidden.discard(key)
            with self._tx():
                self._db.execute("DELETE FROM documents WHERE id=?", (doc_id,))

    # -- search ---------------------------------------------------------------------------------

    def uncommitted_keys(self) -> list[str]:
        """Version keys whose points may be in the vector store but must not be found: imports in
        progress (written between ``embedded`` events, not committed), a replaced version being
        deleted after a re-import's commit, a removed document being cleaned up. The registry records
        them (pending_key, stale_key), the in-memory set covers the moments around those writes.
        Searches exclude them inside the query, so a big import never crowds committed passages out
        of the candidates. A document's ready version stays visible until the new one commits."""
        with self.lock:
            rows = self._db.execute("SELECT pending_key, stale_key, ready_key FROM documents "
                                    "WHERE pending_key IS NOT NULL OR stale_key IS NOT NULL").fetchall()
            keys = set(self._hidden)
        for pending, stale, ready in rows:
            keys.update(k for k in (pending, stale) if k and k != ready)
        return sorted(keys)

    def _search_filter(self, document_ids: Sequence[str] | None) -> Scope:
        """The scope of every search: committed points only (``doc_key`` not an uncommitted version),
        of the given documents if any. Each store turns it into its own filter inside the query; an
        empty scope stays an unfiltered query (local mode checks a filter in a Python loop)."""
        hidden = tuple(self.uncommitted_keys())
        count = 0
        if hidden:
            with self.lock:
                row = self._db.execute(f"SELECT count(*) FROM chunks WHERE doc_key IN ({','.join('?' * len(hidden))})",
                                       hidden).fetchone()
            count = int(row[0])
        return Scope(tuple(document_ids or ()), hidden, count)

    def dense(self, vector: np.ndarray, limit: int, document_ids: Sequence[str] | None = None) -> dict[str, float]:
        with self.lock:
            return self.store.dense(vector, limit, self._search_filter(document_ids))

    def qdrant_search(self, dense: np.ndarray | None, sparse: tuple[list[int], list[float]] | None,
                      limit: int, document_ids: Sequence[str] | None = None) -> tuple[dict[str, float], dict[str, float]]:
        """Keyword or hybrid search inside Qdrant: BM25 sparse alone, or dense and sparse prefetches
        fused by the Query API (DBSF, which scored best of Qdrant's fusions on the dev set).
        Returns (scores, dense cosine per hit); the cosine is what abstention looks at. Each
        prefetch carries the committed-only filter, so fusion only ever sees committed points."""
        with self.lock:
            return self.store.hybrid(dense, sparse, limit, self._search_filter(document_ids))

    def sparse(self, query: str, limit: int, document_ids: Sequence[str] | None = None) -> dict[str, float]:
        q = fts_query(query)
        if not q:
            return {}
        scope, args = "", [q]
        if document_ids:
            scope = f" AND c.document_id IN ({','.join('?' * len(document_ids))})"
            args += list(document_ids)
        with self.lock:
            rows = self._db.execute(
                "SELECT c.point_id, -bm25(chunks_fts) AS s FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid "
                "WHERE chunks_fts MATCH ? AND c.doc_key IN (SELECT ready_key FROM documents WHERE ready_key IS NOT NULL)"
                f"{scope} ORDER BY bm25(chunks_fts) LIMIT ?", (*args, limit)).fetchall()
        return {pid: float(s) for pid, s in rows}

    def document_chunks(self, document_id: str) -> list[dict[str, Any]]:
        """Every visible chunk of one document, in reading order (for summaries)."""
        with self.lock:
            rows = self._db.execute(
                "SELECT c.point_id, c.document_id, d.source, d.title, c.section, c.page, c.text, c.start, c.end, c.idx, "
                "c.page_start, c.page_end "
                "FROM chunks c JOIN documents d ON d.ready_key = c.doc_key WHERE d.id = ? ORDER BY c.idx",
                (document_id,)).fetchall()
        return [dict(zip(_CHUNK_KEYS, r)) for r in rows]

    def chunk_rows(self, point_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Chunk text and metadata for visible chunks, by point id."""
        if not point_ids:
            return {}
        marks = ",".join("?" * len(point_ids))
        with self.lock:
            rows = self._db.execute(
                f"SELECT c.point_id, c.document_id, d.source, d.title, c.section, c.page, c.text, c.start, c.end, c.idx, "
                f"c.page_start, c.page_end "
                f"FROM chunks c JOIN documents d ON d.ready_key = c.doc_key WHERE c.point_id IN ({marks})",
                list(point_ids)).fetchall()
        return {r[0]: dict(zip(_CHUNK_KEYS, r)) for r in rows}

    def neighbours(self, point_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The chunks just before and after a visible chunk in its document (for reading context)."""
        with self.lock:
            row = self._db.execute(
                "SELECT c.doc_key, c.idx FROM chunks c JOIN documents d ON d.ready_key = c.doc_key "
                "WHERE c.point_id=?", (point_id,)).fetchone()
            if row is None:
                return None, None
            found = self._db.execute("SELECT idx, text, start, end FROM chunks WHERE doc_key=? AND idx IN (?, ?)",
                                     (row[0], row[1] - 1, row[1] + 1)).fetchall()
        by_idx = {r[0]: {"text": r[1], "start": r[2], "end": r[3]} for r in found}
        return by_idx.get(row[1] - 1), by_idx.get(row[1] + 1)

    def document_vectors(self, document_id: str, limit: int = 2000) -> np.ndarray:
        """The dense vectors of a document's visible chunks (at most ``limit``), from the store."""
        with self.lock:
            row = self._db.execute("SELECT ready_key FROM documents WHERE id = ?", (document_id,)).fetchone()
            if row is None or not row[0]:
                return np.zeros((0, self.dim), dtype=np.float32)
            points, _next = self.store.scroll(limit=limit, doc_key=row[0], with_payload=False)
        vectors = [p.dense for p in points if p.dense is not None]
        return np.asarray(vectors, dtype=np.float32) if vectors else np.zeros((0, self.dim), dtype=np.float32)

    def compact_store_if_due(self) -> bool:
        """Compact the vector store when enough was written since the last time (Qdrant Edge,
        ``core.vectorstore.compact``). Searches wait meanwhile (the store is closed for it); it
        follows an import of ``COMPACT_AFTER`` passages or more."""
        with self.lock:
            if self._store is None or not self._store.compact_due():
                return False
            try:
                return self._store.compact()
            except FootnoteError as exc:  # the shard could not be opened again: reopen on next use
                log.warning("compaction left the store closed error=%s", exc)
                self._store = None
                return False
            except Exception as exc:  # noqa: BLE001 - compaction is an optimization: the import stands
                log.warning("compaction failed error=%s", exc)
                return False

    def count_points(self) -> int:
        with self.lock:
            return self.store.count()

    def close(self) -> None:
        with self.lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            self._db.close()
            mark_registry_checked(self.data_dir / REGISTRY_FILE)
