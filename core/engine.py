"""The engine facade: what the CLI, the desktop workers and the tests call.

It owns the one Index (Qdrant + SQLite) of this process and the lazily loaded models.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.documents import Document, Extracted, document_id_for
from core.embedding import Embedder, SparseEmbedder
from core.errors import FootnoteError, LoadError, SkippedItem, UnsupportedFileType
from core.events import UNCHANGED, IngestEvent
from core.ingest.chunking import Chunker, load_tokenizer
from core.ingest.guard import ImportCancelled, Limits, ParseGuard
from core.ingest.loaders import load_path, walk
from core.library_format import pipeline_id
from core.retrieval import SearchHit, fuse
from core.settings import Settings
from core.store import DataDirLock, Index

if TYPE_CHECKING:
    from core.answer.answerer import Answerer
    from core.answer.types import AnswerStream
    from core.repair import RepairReport

log = logging.getLogger(__name__)

EMBED_BATCH = 64
SMALL_FILE_BYTES = 256 * 1024
SEEN_VECTORS = 20_000  # distinct passages per document whose vectors are kept for re-use
CANDIDATES = 50


def is_url(text: str) -> bool:
    return text.lower().startswith(("http://", "https://"))


def _small_file(source: str, args: tuple[Any, ...]) -> bool:
    """Small files share a round trip to the parse workers (see ``ParseGuard.map``)."""
    try:
        return bool(args[0].stat().st_size < SMALL_FILE_BYTES)
    except (OSError, AttributeError):
        return False


def text_key(text: str) -> bytes:
    """The key a passage's vector is re-used under: the same text always gets the same vector."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _source_of(file: Path) -> str:
    """A file's source key: its absolute path with links resolved (one document per file)."""
    try:
        return str(file.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return str(file.absolute())


class Engine:
    def __init__(self, data_dir: Path, settings: Settings | None = None) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self._lock_file = DataDirLock(self.data_dir)
        self._lock_file.acquire()
        try:
            self.settings = settings or Settings.load(self.data_dir)
            self.embedder = Embedder(self.data_dir, self.settings.embed_threads)
            self.index = Index(self.data_dir, self.embedder.dim, self.settings.qdrant_url,
                               pipeline=pipeline_id(str(self.embedder.model_info["id"])),
                               vector_store=self.settings.vector_store)
        except BaseException:
            self._lock_file.release()
            raise
        self.sparse_embedder = SparseEmbedder(self.data_dir)
        self._chunker: Chunker | None = None
        self._chunker_lock = threading.Lock()
        self._answerer: Answerer | None = None
        self._guard: ParseGuard | None = None
        self._guard_lock = threading.Lock()
        self._known_vectors: dict[bytes, np.ndarray] = {}  # see reusing_vectors
        self.embedded_passages = 0  # passages embedded / vectors re-used since the engine opened
        self.reused_passages = 0

    # -- set-up ---------------------------------------------------------------------------------

    @property
    def chunker(self) -> Chunker:
        with self._chunker_lock:
            if self._chunker is None:
                tok = load_tokenizer(self.embedder.tokenizer_path())
                self._chunker = Chunker(tok, self.settings.chunk_tokens, self.settings.chunk_overlap)
            return self._chunker

    def warm_up(self) -> None:
        """Load the embedder and open the vector store now, so the first search is quick."""
        _ = self.index.client
        self.parse_guard.prestart()
        self.embedder.embed_query("warm up")
        _ = self.chunker

    def library_version(self) -> int:
        return self.index.version()

    # -- ingestion ------------------------------------------------------------------------------

    @property
    def parse_guard(self) -> ParseGuard:
        """The guarded parse workers (started on first use): every untrusted file or page is read
        there, under the memory and time limits from the settings."""
        with self._guard_lock:
            if self._guard is None:
                limits = Limits(memory_mb=self.settings.parse_memory_mb, timeout_s=self.settings.parse_timeout_s)
                self._guard = ParseGuard(limits)
            return self._guard

    def ingest(
        self,
        sources: list[str],
        crawl_depth: int = 0,
        max_pages: int = 20,
        cancel: threading.Event | None = None,
    ) -> Iterator[IngestEvent]:
        """Import files, folders and URLs, yielding progress. One bad item never stops the rest:
        each is read in a guarded worker process, and any failure becomes that item's ``failed``
        (or ``skipped``) event."""
        try:
            for src in sources:
                if cancel is not None and cancel.is_set():
                    return
                if is_url(src):
                    yield from self._ingest_url(src, crawl_depth, max_pages, cancel)
                else:
                    yield from self._ingest_path(src, cancel)
        except ImportCancelled:
            log.info("ingest cancelled")
        if cancel is None or not cancel.is_set():  # quitting cancels imports: never start it then
            self.index.compact_store_if_due()

    def _ingest_url(self, src: str, crawl_depth: int, max_pages: int,
                    cancel: threading.Event | None) -> Iterator[IngestEvent]:
        from core.ingest import web

        guard = self.parse_guard

        def parse(page: web._Page, source: str, want_links: bool) -> web.ParsedPage:
            return guard.call(source, web.parse_page, page, source, want_links, cancel=cancel)

        pages = web.crawl(src, depth=crawl_depth, max_pages=max_pages, cancel=cancel, parse=parse)
        while True:
            try:
                item = next(pages)
            except StopIteration:
                return
            except ImportCancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - last resort for this link: the batch goes on
                log.exception("unexpected error importing url=%s", web._redact(src))
                source = web.normalise_url(src) if is_url(src) else src
                yield IngestEvent("started", source)
                yield self._failed(source, f"{source}: the page could not be imported ({type(exc).__name__})")
                return
            if isinstance(item, LoadError):
                yield IngestEvent("started", item.source)
                yield self._failed(item.source, str(item))
            else:
                yield IngestEvent("started", item.source, title=item.title)
                yield from self._index_guarded(item, cancel)
            if cancel is not None and cancel.is_set():
                return

    def _ingest_path(self, src: str, cancel: threading.Event | None) -> Iterator[IngestEvent]:
        path = Path(src).expanduser()
        if not path.exists() and not path.is_symlink():
            yield IngestEvent("started", src)
            yield self._failed(str(path.absolute()), f"{src}: no such file or folder")
            return
        yield from self._ingest_walked(walk([path]), path.is_dir(), cancel)

    def ingest_files(self, files: Sequence[Path], cancel: threading.Event | None = None) -> Iterator[IngestEvent]:
        """Import files as members of a folder (a watched folder's changes): a file of an
        unsupported type is ``skipped``, as in a folder import, not ``failed``."""
        try:
            yield from self._ingest_walked(iter(files), True, cancel)
        except ImportCancelled:
            log.info("ingest cancelled")
        if cancel is None or not cancel.is_set():
            self.index.compact_store_if_due()

    def _ingest_walked(self, files: Iterator[Path | LoadError], in_folder: bool,
                       cancel: threading.Event | None) -> Iterator[IngestEvent]:
        def tasks() -> Iterator[tuple[str, Any, tuple[Any, ...]]]:
            for file in files:
                if isinstance(file, LoadError):
                    yield file.source, None, (file,)
                else:
                    yield _source_of(file), load_path, (file,)

        for source, result in self.parse_guard.map(tasks(), cancel=cancel, small=_small_file):
            yield IngestEvent("started", source)
            if isinstance(result, SkippedItem) and (in_folder or not isinstance(result, UnsupportedFileType)):
                log.info("ingest skipped source=%s reason=%s", source, result.reason)
                yield IngestEvent("skipped", source, document_id=document_id_for(source), error=str(result))
                continue
            if isinstance(result, LoadError):
                yield self._failed(source, str(result))
                continue
            result.source = source
            yield from self._index_guarded(result, cancel)
            if cancel is not None and cancel.is_set():
                return

    def _index_guarded(self, ex: Extracted, cancel: threading.Event | None) -> Iterator[IngestEvent]:
        """Index one item; an unexpected error costs this item only."""
        try:
            yield from self._index_extracted(ex, cancel)
        except Exception as exc:  # noqa: BLE001 - last resort per item
            log.exception("unexpected error indexing source=%s", ex.source)
            yield self._failed(ex.source, f"{ex.source}: the item could not be imported ({type(exc).__name__})")

    def _failed(self, source: str, error: str) -> IngestEvent:
        log.info("ingest failed source=%s error=%s", source, error)
        self.index.record_failure(document_id_for(source), source, error)
        return IngestEvent("failed", source, document_id=document_id_for(source), error=error)

    def _index_extracted(self, ex: Extracted, cancel: threading.Event | None) -> Iterator[IngestEvent]:
        doc_id = document_id_for(ex.source)
        content_hash = ex.content_hash
        if self.index.ready_hash(doc_id) == content_hash and self.index.ready_pipeline(doc_id) == self.index.pipeline:
            yield IngestEvent("skipped", ex.source, title=ex.title, document_id=doc_id,
                              error=UNCHANGED)
            return
        try:
            chunks = self.chunker.chunk(ex, doc_id)
        except Exception as exc:  # noqa: BLE001 - reported per item
            yield self._failed(ex.source, f"{ex.source}: the text could not be split into passages ({type(exc).__name__})")
            return
        if not chunks:
            yield self._failed(ex.source, f"{ex.source}: no text found")
            return
        total = len(chunks)
        yield IngestEvent("chunked", ex.source, title=ex.title, document_id=doc_id, total=total)
        try:
            key = self.index.begin(doc_id, ex.source, ex.title, ex.kind, content_hash)
        except FootnoteError as exc:
            yield IngestEvent("failed", ex.source, title=ex.title, document_id=doc_id, error=str(exc))
            return
        committed = False
        seen: dict[bytes, np.ndarray] = {}
        try:
            done = 0
            for i in range(0, total, EMBED_BATCH):
                if cancel is not None and cancel.is_set():
                    raise FootnoteError(f"{ex.source}: import cancelled")
                batch = chunks[i:i + EMBED_BATCH]
                texts = [c.text for c in batch]
                vectors = self._embed_once(texts, seen)
                sparse = self.sparse_embedder.embed(texts) if self.index.wants_sparse or self._qdrant_keywords() else None
                self.index.write_chunks(key, batch, vectors, sparse)
                done += len(batch)
                yield IngestEvent("embedded", ex.source, title=ex.title, document_id=doc_id, done=done, total=total)
            self.index.commit(doc_id, key, ex.title, ex.kind, content_hash, total)
            committed = True
        except Exception as exc:  # noqa: BLE001 - one item's failure must not stop the others
            error = str(exc) if isinstance(exc, FootnoteError) else f"indexing failed ({type(exc).__name__}: {exc})"
            if not error.startswith(ex.source):
                error = f"{ex.source}: {error}"
            cancelled = cancel is not None and cancel.is_set()
            # A cancelled import is the user's choice, not a problem worth a warning.
            (log.info if cancelled else log.warning)("ingest failed source=%s error=%s", ex.source, error)
            self.index.abort(doc_id, key, error)
            committed = True  # handled
            yield IngestEvent("failed", ex.source, title=ex.title, document_id=doc_id, error=error)
            return
        finally:
            if not committed:  # an unexpected error or the consumer closed the generator
                self.index.abort(doc_id, key, f"{ex.source}: import interrupted")
        log.info("ingest done source=%s chunks=%d", ex.source, total)
        yield IngestEvent("done", ex.source, title=ex.title, document_id=doc_id, done=total, total=total)

    def _embed_once(self, texts: list[str], seen: dict[bytes, np.ndarray]) -> np.ndarray:
        """Vectors for ``texts``, embedding each distinct text of a document once: repeated
        passages (the same page header, a PDF whose pages share one content stream) cost nothing."""
        keys = [text_key(t) for t in texts]
        for key in keys:  # vectors this text already has in the library (a renamed or edited file)
            if key not in seen and key in self._known_vectors:
                seen[key] = self._known_vectors[key]
                self.reused_passages += 1
        fresh: dict[bytes, str] = {}
        for key, text in zip(keys, texts):
            if key not in seen:
                fresh.setdefault(key, text)
        if not keys:
            return np.zeros((0, self.embedder.dim), dtype=np.float32)
        made = dict(zip(fresh, self.embedder.embed(list(fresh.values()), batch_size=EMBED_BATCH))) if fresh else {}
        self.embedded_passages += len(made)
        out = np.stack([made[key] if key in made else seen[key] for key in keys])
        if len(seen) + len(made) > SEEN_VECTORS:
            seen.clear()
        seen.update(made)
        return out

    @contextmanager
    def reusing_vectors(self, document_ids: Sequence[str]) -> Iterator[None]:
        """While inside, a passage whose text one of these documents already has takes its stored
        vector instead of a new embedding (a vector depends on the text and the model only, so
        this is exact). A renamed file is re-indexed without embedding anything; an edited one
        embeds only its new passages. Documents made by another model are left out."""
        vectors = self.index.passage_vectors(list(document_ids)) if document_ids else []
        added = [k for k in (text_key(t) for t, _ in vectors) if k not in self._known_vectors]
        self._known_vectors.update((text_key(t), v) for t, v in vectors)
        try:
            yield
        finally:
            for k in added:
                self._known_vectors.pop(k, None)

    def sync_folder(self, folder: str | Path, paths: Sequence[str] | None = None,
                    cancel: threading.Event | None = None) -> Iterator[IngestEvent]:
        """Bring the library in line with a watched folder (or with ``paths`` inside it): new and
        changed files imported, deleted files' documents removed (``removed`` events)."""
        from core.watch import WatchRegistry, sync

        yield from sync(self, WatchRegistry(self.data_dir), str(folder), paths, cancel)

    # -- library --------------------------------------------------------------------------------

    def documents(self) -> list[Document]:
        return self.index.documents()

    def find(self, source_or_id: str) -> Document | None:
        doc = self.index.find(source_or_id)
        if doc is None and not is_url(source_or_id):
            doc = self.index.find(str(Path(source_or_id).expanduser().resolve()))
        if doc is None and is_url(source_or_id):
            from core.ingest.web import normalise_url

            doc = self.index.find(normalise_url(source_or_id))
        return doc

    def remove(self, source_or_id: str) -> Document:
        doc = self.find(source_or_id)
        if doc is None:
            raise FootnoteError(f"{source_or_id}: no such document in the library")
        self.index.remove(doc.id)
        log.info("removed document id=%s source=%s", doc.id, doc.source)
        return doc

    # -- search ---------------------------------------------------------------------------------

    def _qdrant_keywords(self) -> bool:
        if self.settings.keyword_backend(self.index.store_kind) != "qdrant":
            return False
        _ = self.index.client
        if not self.index.has_sparse:
            log.warning("keyword_search=qdrant but this library has no sparse vectors; using fts5")
        return self.index.has_sparse

    def search(self, query: str, top_k: int | None = None, mode: str = "hybrid",
               document_ids: Sequence[str] | None = None) -> list[SearchHit]:
        """Top-k chunks for a query. ``mode`` is hybrid (default), dense or sparse; ``document_ids``
        limits the search to those documents (a chat scoped to a selection)."""
        k = top_k or self.settings.top_k
        pool = max(CANDIDATES, k * 2)
        scope = list(document_ids) if document_ids else None
        dense: dict[str, float] = {}
        sparse: dict[str, float] = {}
        if mode in ("hybrid", "sparse") and self._qdrant_keywords():
            qvec = self.embedder.embed_query(query) if mode == "hybrid" else None
            scores, dense = self.index.qdrant_search(qvec, self.sparse_embedder.embed_query(query), k * 2, scope)
            ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
            return self._hits(ranked, dense, k)
        if mode in ("hybrid", "dense"):
            dense = self.index.dense(self.embedder.embed_query(query), pool, scope)
        if mode in ("hybrid", "sparse"):
            sparse = self.index.sparse(query, pool, scope)
        if mode == "dense":
            ranked = sorted(dense.items(), key=lambda kv: kv[1], reverse=True)
        elif mode == "sparse":
            ranked = sorted(sparse.items(), key=lambda kv: kv[1], reverse=True)
        elif mode == "hybrid":
            ranked = fuse(dense, sparse, self.settings.dense_weight)
        else:
            raise ValueError(f"unknown search mode {mode!r}")
        return self._hits(ranked, dense, k)

    def _hits(self, ranked: list[tuple[str, float]], dense: dict[str, float], k: int) -> list[SearchHit]:
        top = ranked[: k * 2]
        rows = self.index.chunk_rows([pid for pid, _ in top])
        hits = []
        for pid, score in top:
            row = rows.get(pid)
            if row is None:
                continue
            hits.append(SearchHit(score=score, dense_score=dense.get(pid), **row))
            if len(hits) >= k:
                break
        return hits

    def document_chunks(self, document_id: str) -> list[SearchHit]:
        """Every passage of one document in reading order (summaries read the whole document)."""
        return [SearchHit(score=0.0, **row) for row in self.index.document_chunks(document_id)]

    def related(self, source_or_id: str, k: int = 5) -> list[tuple[Document, float]]:
        """The documents most like one document, by their embeddings (no model call): the
        document's mean passage vector against every other document's passages; a document
        scores by its closest passage."""
        doc = self.find(source_or_id)
        if doc is None:
            raise FootnoteError(f"{source_or_id}: no such document in the library")
        vectors = self.index.document_vectors(doc.id)
        if not len(vectors):
            return []
        centroid = vectors.mean(axis=0)
        best: dict[str, float] = {}
        pool = max(CANDIDATES, k * 20)
        scores = self.index.dense(centroid, pool + len(vectors))
        rows = self.index.chunk_rows(list(scores))
        for pid, score in scores.items():
            row = rows.get(pid)
            if row is None or row["document_id"] == doc.id:
                continue
            best[row["document_id"]] = max(best.get(row["document_id"], -1.0), score)
        ranked = sorted(best.items(), key=lambda kv: kv[1], reverse=True)[:k]
        by_id = {d.id: d for d in self.index.documents()}
        return [(by_id[i], s) for i, s in ranked if i in by_id]

    def chunk(self, point_id: str) -> SearchHit | None:
        row = self.index.chunk_rows([point_id]).get(point_id)
        return SearchHit(score=0.0, **row) if row else None

    def context(self, point_id: str, limit: int = 600) -> tuple[str, str]:
        """Text around a chunk (up to ``limit`` characters each side, overlap removed), so a reader
        sees the cited passage in place rather than cut out of its document."""
        hit = self.chunk(point_id)
        if hit is None:
            return "", ""
        prev, nxt = self.index.neighbours(point_id)
        before = after = ""
        if prev is not None and prev["start"] < hit.start:
            before = prev["text"][: hit.start - prev["start"]][-limit:]
            if prev["end"] < hit.start:  # the paragraph break between them is in neither chunk
                before += "\n\n"
        if nxt is not None and nxt["end"] > hit.end:
            after = nxt["text"][max(0, hit.end - nxt["start"]):][:limit]
            if nxt["start"] > hit.end:
                after = "\n\n" + after
        return before, after

    # -- answers --------------------------------------------------------------------------------

    @property
    def answerer(self) -> Answerer:
        if self._answerer is None:
            from core.answer.answerer import Answerer

            self._answerer = Answerer(self)
        return self._answerer

    def ask(self, question: str, **kwargs: Any) -> AnswerStream:
        """Answer from the library; keyword arguments as ``Answerer.ask``."""
        return self.answerer.ask(question, **kwargs)

    # -- library format and repair ---------------------------------------------------------------

    def repair(self) -> RepairReport:
        """Repair this library in place (see ``core.repair``): the index is closed, each damaged side
        rebuilt from the other, and the index opened again."""
        from core.repair import repair_unlocked

        with self.index.lock:
            pipeline = self.index.pipeline
            self.index.close()
            try:
                return repair_unlocked(self.data_dir, self.settings, self.embedder, self.sparse_embedder)
            finally:
                self.index = Index(self.data_dir, self.embedder.dim, self.settings.qdrant_url, pipeline=pipeline,
                                   vector_store=self.settings.vector_store)

    # -- vector store ----------------------------------------------------------------------------

    def store_move_due(self) -> tuple[str, str] | None:
        """(kind, url) of the store move this library needs now: one that was started and not finished
        (it resumes), or, with ``vector_store=auto``, local mode -> Qdrant Edge past 20,000 passages."""
        from core.vectorstore import EDGE_THRESHOLD
        from core.vectorstore.move import pending_move

        pending = pending_move(self.index)
        if pending is not None:
            return pending
        if (self.settings.vector_store == "auto" and self.index.store_kind == "local" and not self.settings.qdrant_url
                and self.index.ready_chunk_count() > EDGE_THRESHOLD):
            return "edge", ""
        return None

    def move_store(self, kind: str | None = None, url: str = "", cancel: threading.Event | None = None,
                   target: Any = None) -> Iterator[IngestEvent]:
        """Move the library's points to another vector store (the due move when ``kind`` is None),
        yielding progress as an import does (``embedded`` counts passages copied). Search keeps the old
        store until the new one is complete; an interrupted move resumes on the next call."""
        from core.vectorstore.move import move

        if kind is None:
            due = self.store_move_due()
            if due is None:
                return
            kind, url = due
        names = {"edge": "Qdrant Edge", "local": "Qdrant local mode", "server": url or "a Qdrant server"}
        title = f"Moving the library to {names.get(kind, kind)}"
        source = f"vector store: {kind}"
        yield IngestEvent("started", source, title=title)
        last = None
        for step in move(self.index, kind, url, self.sparse_embedder.embed, cancel, target):
            last = step
            yield IngestEvent("embedded", source, title=title, done=step.done, total=step.total)
        if self.index.store_kind == kind:
            yield IngestEvent("done", source, title=title, done=last.total if last else 0,
                              total=last.total if last else 0)
        else:
            yield IngestEvent("skipped", source, title=title, error="the move was paused; it resumes next time")

    def outdated(self) -> list[Document]:
        """Documents whose passages an older reader, chunker or embedding model made."""
        return self.index.outdated()

    def reprocess(self, cancel: threading.Event | None = None) -> Iterator[IngestEvent]:
        """Re-read every outdated document from its source and index it again, yielding progress as
        ``ingest`` does. Search keeps the old passages until each document's new ones commit. A
        document whose source is gone, or cannot be read now, keeps its old passages with a note."""
        for doc in self.outdated():
            if cancel is not None and cancel.is_set():
                return
            if not is_url(doc.source) and not Path(doc.source).exists():
                note = f"{doc.source}: source not found; kept the passages from the last import"
                self.index.note(doc.id, note)
                log.info("reprocess kept id=%s source=%s reason=missing", doc.id, doc.source)
                yield IngestEvent("started", doc.source, title=doc.title, document_id=doc.id)
                yield IngestEvent("skipped", doc.source, title=doc.title, document_id=doc.id, error=note)
                continue
            failure = ""
            for ev in self.ingest([doc.source], cancel=cancel):
                if ev.kind == "failed" and ev.source == doc.source:
                    failure = ev.error
                    continue  # reported below, as kept
                yield ev
            if self.index.ready_pipeline(doc.id) != self.index.pipeline and not (cancel is not None and cancel.is_set()):
                reason = failure.removeprefix(f"{doc.source}: ") or "it could not be read again"
                note = f"{doc.source}: {reason}; kept the passages from the last import"
                self.index.note(doc.id, note)
                log.info("reprocess kept id=%s source=%s reason=%s", doc.id, doc.source, reason)
                yield IngestEvent("skipped", doc.source, title=doc.title, document_id=doc.id, error=note)

    def close(self) -> None:
        try:
            if self._guard is not None:
                self._guard.close()
            if self._answerer is not None:
                self._answerer.close()
            self.index.close()
        finally:
            self._lock_file.release()

    def close_for_exit(self, wait_s: float) -> bool:
        """Quitting while a call may still be inside the engine (a model load, a prompt, an
        embedding batch, a long store write), which cannot be interrupted. The parse workers are
        killed; the index is closed only if no store call holds its lock within ``wait_s``, and
        the lock is then kept, so no write starts before the process ends. Half-written imports
        need nothing more: their chunks sit under a pending key that the next open removes, and
        SQLite rolls back a transaction the exit cuts off. The library lock is released either
        way; the model is not unloaded (the process is about to end). True when the index closed."""
        if self._guard is not None:
            self._guard.close()
        closed = False
        try:
            if self.index.lock.acquire(timeout=max(0.0, wait_s)):
                try:
                    self.index.close()
                    closed = True
                except Exception as exc:  # noqa: BLE001 - quitting goes on whatever the store says
                    log.warning("index close at exit failed error=%s", type(exc).__name__)
        finally:
            self._lock_file.release()
        log.info("engine closed for exit index_closed=%s", closed)
        return closed
