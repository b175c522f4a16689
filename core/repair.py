"""Repairing a damaged library: each side is rebuilt from the other.

A library is two stores that hold the same passages: the registry (``library.sqlite3``: documents,
chunk texts, keyword index) and the vector store (Qdrant: one point per chunk, whose payload carries
the chunk's text and its document's metadata). While either side survives nothing the user imported
is lost:

- a damaged registry is salvaged with SQLite's own recovery (the ``sqlite3`` tool's ``.recover``
  when it is installed, else a row-by-row read that skips unreadable pages) and completed from the
  vector store's payloads;
- a damaged or missing vector store is rebuilt by embedding the registry's chunk texts again;
- a settings file with wrong-typed values gets each such field's default, the others kept.

Damaged files are moved aside (``<name>.damaged-<time>``), never deleted. ``repair`` works on a
library that cannot be opened, so the CLI and the window call it without an ``Engine``.
"""

from __future__ import annotations

import logging
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.documents import Chunk
from core.errors import FootnoteError
from core.library_format import LibraryDamagedError
from core.settings import SETTINGS_FILE, Settings, settings_problems
from core.store import (
    PAYLOAD_KEYS,
    REGISTRY_FILE,
    DataDirLock,
    chunk_payload,
    library_store,
    open_registry,
    unit,
)
from core.vectorstore import StoredPoint, VectorStore, open_store, store_folder, store_present

if TYPE_CHECKING:
    from core.embedding import Embedder, SparseEmbedder

log = logging.getLogger(__name__)

BATCH = 64
_DOC_FIELDS = ("id", "source", "title", "kind", "content_hash", "status", "chunks", "error", "added_at",
               "updated_at", "ready_key", "pipeline")
_CHUNK_FIELDS = ("point_id", "doc_key", "document_id", "idx", "text", "section", "page", "start", "end",
                 "page_start", "page_end")


@dataclass
class RepairReport:
    """What ``repair`` found and did; ``lines()`` is what the CLI prints and the window shows."""

    registry: str = "sound"
    vectors: str = "sound"
    store: str = "local"  # which vector store the library uses (local, edge or server)
    settings: list[str] = field(default_factory=list)
    documents: int = 0
    chunks: int = 0
    re_embedded: int = 0
    from_vectors: int = 0  # passages the registry got back from the vector store's payloads
    payloads_completed: int = 0
    orphans_removed: int = 0
    dropped: list[str] = field(default_factory=list)
    kept_aside: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.registry != "sound" or self.vectors != "sound" or self.settings or self.re_embedded
                    or self.from_vectors or self.orphans_removed or self.dropped or self.payloads_completed)

    def lines(self) -> list[str]:
        out = [f"{REGISTRY_FILE}: {self.registry}", f"vector store ({self.store}): {self.vectors}"]
        if self.from_vectors:
            out.append(f"recovered {self.from_vectors} passages from the vector store")
        if self.re_embedded:
            out.append(f"embedded {self.re_embedded} passages again from the registry's texts")
        if self.payloads_completed:
            out.append(f"completed the stored metadata of {self.payloads_completed} passages")
        if self.orphans_removed:
            out.append(f"removed {self.orphans_removed} passages that belonged to no document")
        if self.dropped:
            out.append(f"dropped {len(self.dropped)} documents with no passages left: " + ", ".join(self.dropped))
        out += [f"{SETTINGS_FILE}: {p}" for p in self.settings]
        out += [f"kept the damaged original as {p}" for p in self.kept_aside]
        out.append(f"the library holds {self.documents} documents and {self.chunks} passages")
        return out

    def summary(self) -> str:
        if not self.changed:
            return f"Nothing needed repair: {self.documents} documents, {self.chunks} passages."
        return "Repaired the library: " + "; ".join(self.lines()) + "."

    def as_dict(self) -> dict[str, Any]:
        return {"registry": self.registry, "vectors": self.vectors, "settings": self.settings,
                "documents": self.documents, "chunks": self.chunks, "re_embedded": self.re_embedded,
                "from_vectors": self.from_vectors, "payloads_completed": self.payloads_completed,
                "orphans_removed": self.orphans_removed, "dropped": self.dropped, "kept_aside": self.kept_aside}


def repair(data_dir: Path) -> RepairReport:
    """Repair the library in ``data_dir``, holding its lock (another process using it is refused)."""
    data_dir = Path(data_dir).expanduser().resolve()
    lock = DataDirLock(data_dir)
    lock.acquire()
    try:
        return repair_unlocked(data_dir)
    finally:
        lock.release()


def repair_unlocked(data_dir: Path, settings: Settings | None = None, embedder: Embedder | None = None,
                    sparse_embedder: SparseEmbedder | None = None) -> RepairReport:
    """The repair itself; the caller holds the data folder's lock and has closed its Index."""
    report = RepairReport()
    _repair_settings(data_dir, report)
    settings = settings or Settings.load(data_dir)
    if embedder is None:
        from core.embedding import Embedder

        embedder = Embedder(data_dir, settings.embed_threads)
    kind, url = library_store(data_dir, settings.qdrant_url)
    report.store = kind
    client, points = _open_vectors(data_dir, embedder.dim, kind, url, report)
    try:
        db = _open_registry(data_dir, points, report)
        try:
            _reconcile(db, client, points, settings, embedder, sparse_embedder, data_dir, report)
        finally:
            db.close()
    finally:
        client.close()
    log.info("repair done registry=%s vectors=%s documents=%d chunks=%d re_embedded=%d from_vectors=%d",
             report.registry, report.vectors, report.documents, report.chunks, report.re_embedded, report.from_vectors)
    return report


# -- settings ---------------------------------------------------------------------------------------


def _move_aside(path: Path, report: RepairReport) -> None:
    dest = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    n = 1
    while dest.exists():
        n += 1
        dest = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{n}")
    path.rename(dest)
    report.kept_aside.append(str(dest))


def _repair_settings(data_dir: Path, report: RepairReport) -> None:
    problems = settings_problems(data_dir)
    if not problems:
        return
    path = data_dir / SETTINGS_FILE
    cleaned = Settings.load(data_dir)  # wrong fields at their defaults, the rest kept
    backup = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.copy2(path, backup)
    report.kept_aside.append(str(backup))
    cleaned.save(data_dir)
    report.settings = problems


# -- vector store -------------------------------------------------------------------------------------


@dataclass
class _Point:
    payload: dict[str, Any]
    vector: dict[str, Any]


def _open_vectors(data_dir: Path, dim: int, kind: str, url: str,
                  report: RepairReport) -> tuple[VectorStore, dict[str, _Point]]:
    """The library's vector store and every point in it; a store that cannot be read is moved aside
    and a fresh one made (the registry's texts fill it again)."""
    folder = store_folder(data_dir, kind)
    if folder is not None and not store_present(data_dir, kind):
        registry_has_chunks = (data_dir / REGISTRY_FILE).exists()
        report.vectors = "missing; rebuilt from the registry" if registry_has_chunks else "created"
        if folder.exists():
            _move_aside(folder, report)
        return open_store(data_dir, kind, dim, url), {}
    store: VectorStore | None = None
    try:
        store = open_store(data_dir, kind, dim, url)
        points = {p.id: _Point(p.payload, _vector_of(p)) for p in store.points()}
        return store, points
    except LibraryDamagedError as exc:
        reason = exc.reason
    except Exception as exc:  # noqa: BLE001 - any unreadable point means the store is damaged
        if folder is None:
            raise
        reason = f"the vector store is damaged ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})"
        try:
            if store is not None:
                store.close()
        except Exception:  # noqa: BLE001 - it is being replaced
            pass
    if folder is None:
        raise FootnoteError(f"{url}: the Qdrant server could not be read ({reason})")
    report.vectors = f"{reason}; rebuilt from the registry"
    _move_aside(folder, report)
    return open_store(data_dir, kind, dim, url), {}


def _vector_of(p: StoredPoint) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if p.dense is not None:
        out["dense"] = p.dense
    if p.sparse is not None:
        out["bm25"] = p.sparse
    return out


# -- registry ---------------------------------------------------------------------------------------


def _registry_problem(path: Path) -> str | None:
    """Why the registry cannot be trusted, or None when it passes SQLite's integrity check."""
    if not path.exists():
        return "missing"
    try:
        db = sqlite3.connect(path)
        try:
            rows = [str(r[0]) for r in db.execute("PRAGMA integrity_check(3)").fetchall()]
            if rows != ["ok"]:
                lines = [ln.strip() for r in rows for ln in r.splitlines()]
                return next((ln for ln in lines if ln and not ln.startswith("***")), "the integrity check failed")
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            missing = {"documents", "chunks"} - tables
            if missing and tables:
                return "tables missing: " + ", ".join(sorted(missing))
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        return str(exc)
    return None


def _rows(db: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    """Every readable row of a table, skipping past unreadable pages by rowid."""
    out: list[dict[str, Any]] = []
    last, step, misses = -1, 1, 0
    while misses < 40:
        try:
            cur = db.execute(f"SELECT rowid AS _rowid, * FROM {table} WHERE rowid > ? ORDER BY rowid", (last,))
            names = [d[0] for d in cur.description]
            for row in cur:
                out.append(dict(zip(names, row)))
                last = row[0]
            return out
        except sqlite3.DatabaseError:
            last += step  # skip the unreadable stretch, further each time
            step *= 2
            misses += 1
    return out


def _read_tables(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    try:
        db = sqlite3.connect(path)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            docs = _rows(db, "documents") if "documents" in tables else []
            chunks = _rows(db, "chunks") if "chunks" in tables else []
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        log.info("registry salvage read nothing path=%s error=%s", path, exc)
        return [], []
    return docs, chunks


def _sqlite_recover(path: Path, tool: str, tmp: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    recovered = tmp / "recovered.sqlite3"
    try:
        sql = subprocess.run([tool, str(path), ".recover"], capture_output=True, timeout=600, check=False).stdout
        subprocess.run([tool, str(recovered)], input=sql, capture_output=True, timeout=600, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.info("sqlite3 .recover failed error=%s", exc)
        return [], []
    return _read_tables(recovered) if recovered.exists() else ([], [])


def salvage_registry(path: Path, use_sqlite_tool: bool = True) -> tuple[list[dict[str, Any]], list[dict[str, Any]], str]:
    """Documents and chunks readable from a damaged registry, and how they were read.

    Two readers, whose results are joined: a row walk in Python that skips past unreadable pages,
    and, where the ``sqlite3`` tool is installed (not in a packaged app), its ``.recover``, which
    reads rows out of pages that SQLite can no longer reach from the table's tree.
    """
    docs, chunks = _read_tables(path)
    how = ["read row by row"]
    tool = shutil.which("sqlite3") if use_sqlite_tool else None
    if tool:
        with tempfile.TemporaryDirectory() as tmp:
            more_docs, more_chunks = _sqlite_recover(path, tool, Path(tmp))
        seen_docs = {d.get("id") for d in docs}
        seen_chunks = {c.get("point_id") for c in chunks}
        extra_docs = [d for d in more_docs if d.get("id") not in seen_docs]
        extra_chunks = [c for c in more_chunks if c.get("point_id") not in seen_chunks]
        if extra_docs or extra_chunks:
            how.append("sqlite3 .recover")
        docs += extra_docs
        chunks += extra_chunks
    return docs, chunks, " and ".join(how)


def _open_registry(data_dir: Path, points: dict[str, _Point], report: RepairReport) -> sqlite3.Connection:
    path = data_dir / REGISTRY_FILE
    problem = _registry_problem(path)
    if problem is None:
        return open_registry(path, check=False)
    docs: list[dict[str, Any]] = []
    chunks: list[dict[str, Any]] = []
    how = ""
    if problem != "missing":
        docs, chunks, how = salvage_registry(path)
        _move_aside(path, report)
    for suffix in ("-wal", "-shm"):  # they belong to the damaged or vanished file, not the new one
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    db = open_registry(path, check=False)
    n_docs, n_chunks = _insert_salvaged(db, docs, chunks)
    what = f"{n_docs} documents and {n_chunks} passages {how}" if how else "nothing to salvage"
    report.registry = f"{problem}; rebuilt ({what}, the rest from the vector store)"
    return db


def _insert_salvaged(db: sqlite3.Connection, docs: list[dict[str, Any]], chunks: list[dict[str, Any]]) -> tuple[int, int]:
    ready = {d.get("ready_key"): d for d in docs if d.get("ready_key") and d.get("id")}
    kept_docs = [d for d in docs if d.get("id") and (d.get("ready_key") or d.get("status") == "failed")]
    now = time.time()
    db.execute("BEGIN")
    n_docs = 0
    for d in kept_docs:
        values = {k: d.get(k) for k in _DOC_FIELDS}
        values["status"] = "ready" if values["ready_key"] else "failed"
        for k, default in (("title", ""), ("kind", ""), ("content_hash", ""), ("error", ""), ("pipeline", ""),
                           ("chunks", 0), ("added_at", now), ("updated_at", now)):
            if values[k] is None:
                values[k] = default
        if not values["source"]:
            continue
        cur = db.execute(f"INSERT OR IGNORE INTO documents({', '.join(_DOC_FIELDS)}) "
                         f"VALUES({', '.join('?' * len(_DOC_FIELDS))})", [values[k] for k in _DOC_FIELDS])
        n_docs += cur.rowcount
    n_chunks = 0
    for c in chunks:
        if c.get("doc_key") not in ready or c.get("text") is None or not c.get("point_id"):
            continue
        values = {k: c.get(k) for k in _CHUNK_FIELDS}
        for k in ("idx", "start", "end"):
            values[k] = values[k] if isinstance(values[k], int) else 0
        values["section"] = values["section"] or ""
        cur = db.execute(f"INSERT OR IGNORE INTO chunks({', '.join(_CHUNK_FIELDS)}) "
                         f"VALUES({', '.join('?' * len(_CHUNK_FIELDS))})", [values[k] for k in _CHUNK_FIELDS])
        n_chunks += cur.rowcount
    db.execute("COMMIT")
    return n_docs, n_chunks


# -- bringing the two sides together ----------------------------------------------------------------------


def _payload_versions(points: dict[str, _Point]) -> dict[str, dict[str, list[tuple[str, _Point]]]]:
    """document id -> doc_key -> its points, for points whose payload can stand in for the registry."""
    out: dict[str, dict[str, list[tuple[str, _Point]]]] = {}
    for pid, p in points.items():
        pl = p.payload
        if not pl.get("document_id") or not pl.get("doc_key") or not pl.get("source") or not isinstance(pl.get("text"), str):
            continue
        out.setdefault(str(pl["document_id"]), {}).setdefault(str(pl["doc_key"]), []).append((pid, p))
    return out


def _restore_from_payloads(db: sqlite3.Connection, points: dict[str, _Point], report: RepairReport) -> None:
    """Give the registry back what only the vector store still holds: documents it lost, and chunks
    of its documents' live versions. Only versions that were committed are taken."""
    docs = {r[0]: (r[1], r[2]) for r in db.execute("SELECT id, ready_key, status FROM documents")}
    have = {r[0] for r in db.execute("SELECT point_id FROM chunks")}
    restored = 0
    db.execute("BEGIN")
    for doc_id, versions in _payload_versions(points).items():
        ready_key, _status = docs.get(doc_id, (None, None))
        if ready_key in versions:
            key = ready_key
        else:
            committed = {k: max(float(p.payload.get("committed_at") or 0) for _, p in v) for k, v in versions.items()}
            committed = {k: t for k, t in committed.items() if t > 0}
            if not committed:
                continue  # never made live: an import that did not finish
            has_chunks = ready_key is not None and db.execute(
                "SELECT 1 FROM chunks WHERE doc_key=? LIMIT 1", (ready_key,)).fetchone()
            if has_chunks:
                continue  # the registry's own version survived
            key = max(committed, key=lambda k: committed[k])
            pl = versions[key][0][1].payload
            db.execute("INSERT INTO documents(id, source, title, kind, content_hash, status, added_at, updated_at, "
                       "ready_key, pipeline) VALUES(?,?,?,?,?,'ready',?,?,?,?) ON CONFLICT(id) DO UPDATE SET "
                       "ready_key=excluded.ready_key, status='ready', pipeline=excluded.pipeline, "
                       "content_hash=excluded.content_hash, title=excluded.title, kind=excluded.kind",
                       (doc_id, pl["source"], pl.get("title") or "", pl.get("kind") or "", pl.get("content_hash") or "",
                        float(pl.get("added_at") or time.time()), time.time(), key, pl.get("pipeline") or ""))
        for pid, p in versions[key]:
            if pid in have:
                continue
            pl = p.payload
            db.execute("INSERT OR IGNORE INTO chunks(point_id, doc_key, document_id, idx, text, section, page, start, "
                       "end, page_start, page_end) VALUES(?,?,?,?,?,?,?,?,?,?,?)",
                       (pid, key, doc_id, int(pl.get("index") or 0), pl["text"], pl.get("section") or "", pl.get("page"),
                        int(pl.get("start") or 0), int(pl.get("end") or 0), pl.get("page_start"), pl.get("page_end")))
            restored += 1
    db.execute("COMMIT")
    report.from_vectors = restored


def _reconcile(db: sqlite3.Connection, client: VectorStore, points: dict[str, _Point], settings: Settings,
               embedder: Embedder, sparse_embedder: SparseEmbedder | None, data_dir: Path,
               report: RepairReport) -> None:
    # Unfinished imports and replaced versions: the registry keeps only live versions.
    db.execute("BEGIN")
    db.execute("DELETE FROM documents WHERE ready_key IS NULL AND status != 'failed'")
    db.execute("UPDATE documents SET pending_key=NULL, stale_key=NULL")
    db.execute("DELETE FROM chunks WHERE doc_key NOT IN (SELECT ready_key FROM documents WHERE ready_key IS NOT NULL)")
    db.execute("COMMIT")
    _restore_from_payloads(db, points, report)

    meta = {r[0]: dict(zip(("source", "title", "kind", "content_hash", "added_at", "pipeline"), r[1:]))
            for r in db.execute("SELECT ready_key, source, title, kind, content_hash, added_at, pipeline "
                                "FROM documents WHERE ready_key IS NOT NULL")}
    counts = dict(db.execute("SELECT doc_key, count(*) FROM chunks GROUP BY doc_key").fetchall())
    rows = db.execute("SELECT point_id, doc_key, document_id, idx, text, section, page, start, end, page_start, "
                      "page_end FROM chunks ORDER BY doc_key, idx").fetchall()
    wanted = {r[0] for r in rows}

    orphans = [pid for pid in points if pid not in wanted]
    client.delete_ids(orphans)
    report.orphans_removed = len(orphans)

    want_sparse = client.has_sparse and (client.kind != "local" or settings.keyword_backend(client.kind) == "qdrant")
    missing: list[tuple[Any, ...]] = []
    incomplete: list[tuple[Any, ...]] = []
    for r in rows:
        p = points.get(r[0])
        if p is None or "dense" not in p.vector:
            missing.append(r)
        elif any(k not in p.payload for k in PAYLOAD_KEYS) or "committed_at" not in p.payload:
            incomplete.append(r)

    def payload(r: tuple[Any, ...], old: dict[str, Any] | None) -> dict[str, Any]:
        m = meta[r[1]]
        chunk = Chunk(document_id=r[2], index=r[3], text=r[4], start=r[7], end=r[8], section=r[5], page=r[6],
                      page_start=r[9], page_end=r[10])
        out = chunk_payload(r[1], m, chunk, m["pipeline"])
        out["committed_at"] = (old or {}).get("committed_at") or time.time()
        out["chunks"] = counts.get(r[1], 0)
        return out

    if missing and want_sparse and sparse_embedder is None:
        from core.embedding import SparseEmbedder

        sparse_embedder = SparseEmbedder(data_dir)
    for i in range(0, len(missing), BATCH):
        batch = missing[i:i + BATCH]
        texts = [r[4] for r in batch]
        dense = unit(embedder.embed(texts, batch_size=BATCH)).tolist()
        sparse = sparse_embedder.embed(texts) if want_sparse and sparse_embedder is not None else None
        client.upsert([StoredPoint(r[0], dense[j], sparse[j] if sparse else None, payload(r, None))
                       for j, r in enumerate(batch)])
    report.re_embedded = len(missing)
    structs = []
    for r in incomplete:
        p = points[r[0]]
        structs.append(StoredPoint(r[0], p.vector.get("dense"), p.vector.get("bm25"), payload(r, p.payload)))
    client.upsert(structs)
    report.payloads_completed = len(incomplete)

    # The keyword index, the chunk counts, and documents that lost every passage.
    db.execute("BEGIN")
    db.execute("DELETE FROM chunks_fts")
    db.execute("INSERT INTO chunks_fts(rowid, text) SELECT rowid, CASE WHEN section != '' THEN section || char(10) "
               "|| text ELSE text END FROM chunks")
    db.execute("UPDATE documents SET chunks=(SELECT count(*) FROM chunks WHERE doc_key=documents.ready_key) "
               "WHERE ready_key IS NOT NULL")
    empty = db.execute("SELECT source FROM documents WHERE status != 'failed' AND chunks = 0 ORDER BY source").fetchall()
    report.dropped = [str(r[0]) for r in empty]
    db.execute("DELETE FROM documents WHERE status != 'failed' AND chunks = 0")
    db.execute("INSERT INTO meta(key, value) VALUES('version', '1') "
               "ON CONFLICT(key) DO UPDATE SET value=CAST(value AS INTEGER)+1")
    db.execute("INSERT INTO meta(key, value) VALUES('repaired_at', ?) ON CONFLICT(key) DO UPDATE SET "
               "value=excluded.value", (str(time.time()),))
    # The store the library uses, so a registry rebuilt from scratch still opens the right one.
    db.execute("INSERT INTO meta(key, value) VALUES('vector_store', ?) ON CONFLICT(key) DO UPDATE SET "
               "value=excluded.value", (client.kind,))
    if client.kind == "server":
        db.execute("INSERT INTO meta(key, value) VALUES('vector_url', ?) ON CONFLICT(key) DO UPDATE SET "
                   "value=excluded.value", (str(getattr(client, "url", "")),))
    db.execute("COMMIT")
    report.documents = int(db.execute("SELECT count(*) FROM documents WHERE status='ready'").fetchone()[0])
    report.chunks = int(db.execute("SELECT count(*) FROM chunks").fetchone()[0])
