"""The library's vector store: Qdrant local mode, Qdrant Edge and a server, and moves between them.

Real stores throughout: Qdrant local mode and Qdrant Edge in temporary folders. No Qdrant server
can run here, so push/pull use a local-mode QdrantClient standing in for the server: the server
path is the same ClientStore code, only ``QdrantClient(url=...)`` differs.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from core.documents import Chunk
from core.engine import Engine
from core.errors import LibraryLockedError
from core.repair import repair
from core.vectorstore import EDGE_DIR, LOCAL_DIR, Scope, StoredPoint
from core.vectorstore.client import ClientStore
from tests.core.conftest import quick_settings

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ["when was the first silicon solar cell built", "where did green tea originate",
             "why were flights grounded in 2010", "photovoltaic cells", "Camellia sinensis leaves"]


def results(engine: Engine, mode: str) -> list[list[tuple[str, int]]]:
    return [[(h.document_id, h.index) for h in engine.search(q, top_k=3, mode=mode)] for q in QUESTIONS]


def meta(data: Path) -> dict[str, str]:
    db = sqlite3.connect(data / "library.sqlite3")
    try:
        return dict(db.execute("SELECT key, value FROM meta").fetchall())
    finally:
        db.close()


def test_move_to_edge_keeps_every_passage_and_the_results(library: Path) -> None:
    data = library / "data"
    engine = Engine(data, quick_settings(keyword_search="fts5"))
    try:
        assert engine.index.store_kind == "local"
        dense, hybrid = results(engine, "dense"), results(engine, "hybrid")
        n = engine.index.count_points()
        events = list(engine.move_store("edge"))
        assert events[0].kind == "started" and events[-1].kind == "done" and events[-1].total == n
        assert engine.index.store_kind == "edge" and engine.index.count_points() == n
        assert results(engine, "dense") == dense  # served by Edge now, in this same process
        assert results(engine, "hybrid") == hybrid
    finally:
        engine.close()
    assert meta(data)["vector_store"] == "edge" and "move_to" not in meta(data)
    assert not (data / LOCAL_DIR).exists() and not list(data.glob("*.moved-*")), "the old store is gone"
    engine = Engine(data, quick_settings(keyword_search="fts5"))
    try:
        assert engine.index.store_kind == "edge"
        assert results(engine, "dense") == dense and results(engine, "hybrid") == hybrid
        engine.settings.keyword_search = "auto"  # on Edge: BM25 sparse vectors made during the move
        assert engine._qdrant_keywords()
        top = engine.search("Eyjafjallajökull ash cloud", top_k=1, mode="sparse")
        assert top and "Eyjafjallaj" in top[0].text
    finally:
        engine.close()


def test_hybrid_search_is_the_same_on_local_mode_and_edge(library: Path, tmp_path: Path) -> None:
    """The same passages with BM25 sparse vectors, fused by the Query API in each store."""
    docs = library / "docs"
    found = {}
    for kind in ("local", "edge"):
        engine = Engine(tmp_path / kind, quick_settings(vector_store=kind, keyword_search="qdrant"))
        try:
            assert not [e for e in engine.ingest([str(docs)]) if e.kind == "failed"]
            assert engine.index.store_kind == kind
            found[kind] = (results(engine, "hybrid"), results(engine, "dense"), results(engine, "sparse"))
        finally:
            engine.close()
    assert found["local"] == found["edge"]
    assert (tmp_path / "edge" / EDGE_DIR).is_dir() and not (tmp_path / "edge" / LOCAL_DIR).exists()


MOVER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from pathlib import Path
    from core.engine import Engine
    from core.settings import Settings

    def main():
        engine = Engine(Path(sys.argv[1]), Settings())
        for ev in engine.move_store("edge"):
            print(ev.kind, ev.done, flush=True)
            time.sleep(0.05)  # the consumer sets the pace, so the parent can kill it mid-move
        print("finished", flush=True)

    if __name__ == "__main__":
        main()
""")


def fill(engine: Engine, docs: int, per_doc: int, seed: int = 3, first: int = 0) -> dict[str, np.ndarray]:
    """Committed documents with random unit vectors (the move copies vectors, it does not embed)."""
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for d in range(first, first + docs):
        doc_id = f"doc{d:03d}"
        key = engine.index.begin(doc_id, f"/fake/{doc_id}.txt", doc_id, "text", f"{d:064x}")
        chunks = [Chunk(doc_id, i, f"passage {i} of document {d} about topic {i % 7}", 0, 10) for i in range(per_doc)]
        vecs = rng.normal(size=(per_doc, engine.embedder.dim)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        engine.index.write_chunks(key, chunks, vecs)
        engine.index.commit(doc_id, key, doc_id, "text", f"{d:064x}", per_doc)
        for c, v in zip(chunks, vecs):
            out[f"{doc_id}:{c.index}"] = v
    return out


def test_kill_during_the_move_loses_nothing_and_it_resumes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    engine = Engine(data, quick_settings())
    try:
        vectors = fill(engine, 12, 250)  # 3000 points: twelve batches
        probe = engine.index.document_vectors("doc005")
        query = probe[17]
        top_before = list(engine.index.dense(query, 10))
    finally:
        engine.close()
    proc = subprocess.Popen([sys.executable, "-c", MOVER, str(data), str(ROOT)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    copied = 0
    for line in proc.stdout:
        kind, done = line.split()
        if kind == "embedded" and int(done) >= 1000:
            copied = int(done)
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert 1000 <= copied < 3000, "killed in the middle of the move"
    m = meta(data)
    assert m["vector_store"] == "local" and m["move_to"] == "edge" and int(m["move_cursor"]) > 0

    engine = Engine(data, quick_settings())
    try:
        assert engine.index.store_kind == "local", "the library stays on the old store until the move is done"
        assert engine.index.count_points() == 3000 and list(engine.index.dense(query, 10)) == top_before
        assert engine.store_move_due() == ("edge", "")
        engine.remove("doc011")  # the library changes before the move resumes
        top_before = list(engine.index.dense(query, 10))
        events = list(engine.move_store())  # resumes the recorded move
        assert events[-1].kind == "done" and events[1].done >= copied
        assert engine.index.store_kind == "edge" and engine.index.count_points() == 2750
        assert list(engine.index.dense(query, 10)) == top_before
        for d in (0, 5, 10):
            stored = engine.index.document_vectors(f"doc{d:03d}")
            want = np.stack([vectors[f"doc{d:03d}:{i}"] for i in range(250)])
            # Edge stores 8-bit codes: each moved vector is its original to within the datatype's error.
            sims = stored @ want.T
            assert len(stored) == 250 and len(set(sims.argmax(axis=1).tolist())) == 250
            assert sims.max(axis=1).min() > 0.999
        assert engine.store_move_due() is None
    finally:
        engine.close()
    assert not (data / LOCAL_DIR).exists()


def test_a_library_past_the_threshold_is_due_to_move(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.vectorstore as vs

    monkeypatch.setattr(vs, "EDGE_THRESHOLD", 100)
    engine = Engine(tmp_path / "pinned", quick_settings(vector_store="local"))
    try:
        fill(engine, 3, 40)
        assert engine.store_move_due() is None, "vector_store=local never moves"
    finally:
        engine.close()
    engine = Engine(tmp_path / "auto", quick_settings())
    try:
        fill(engine, 2, 40)
        assert engine.store_move_due() is None, "80 passages: below the threshold"
        fill(engine, 1, 40, seed=4, first=2)  # 120 live passages
        assert engine.store_move_due() == ("edge", "")
        assert list(engine.move_store())[-1].kind == "done"
        assert engine.index.store_kind == "edge" and engine.index.count_points() == 120
        assert engine.store_move_due() is None
    finally:
        engine.close()


def test_push_to_a_server_and_pull_back(library: Path, tmp_path: Path) -> None:
    """``footnote store push URL`` / ``pull`` at the interface level (a stand-in for the server)."""
    from qdrant_client import QdrantClient

    data = library / "data"
    engine = Engine(data, quick_settings(keyword_search="fts5"))
    try:
        dense = results(engine, "dense")
        n = engine.index.count_points()
        server = ClientStore(tmp_path, engine.embedder.dim, client=QdrantClient(path=str(tmp_path / "server")))
        events = list(engine.move_store("server", "http://qdrant.example:6333", target=server))
        assert events[-1].kind == "done"
        assert engine.index.store_kind == "server" and engine.index.store_url == "http://qdrant.example:6333"
        assert meta(data)["vector_store"] == "server" and meta(data)["vector_url"] == "http://qdrant.example:6333"
        assert server.count() == n and results(engine, "dense") == dense
        assert engine.index.wants_sparse and server.retrieve([p.id for p in server.points()][:1])[0].sparse
        assert list(engine.move_store("edge"))[-1].kind == "done"  # pull
        assert engine.index.store_kind == "edge" and engine.index.count_points() == n
        assert results(engine, "dense") == dense
    finally:
        engine.close()
    server = ClientStore(tmp_path, 384, client=QdrantClient(path=str(tmp_path / "server")))
    assert server.count() == n, "pull leaves the server's copy alone"
    server.close()
    assert meta(data)["vector_store"] == "edge" and "vector_url" not in meta(data)


def test_repair_on_edge_rebuilds_either_side(library: Path, tmp_path: Path) -> None:
    docs = library / "docs"
    data = tmp_path / "edge"
    engine = Engine(data, quick_settings(vector_store="edge"))
    try:
        list(engine.ingest([str(docs)]))
        before = results(engine, "hybrid")
        n = engine.index.count_points()
    finally:
        engine.close()
    (data / "library.sqlite3").unlink()  # the registry lost: rebuilt from Edge's payloads
    for suffix in ("-wal", "-shm"):
        (data / f"library.sqlite3{suffix}").unlink(missing_ok=True)
    report = repair(data)
    assert report.store == "edge" and report.from_vectors == n
    import shutil

    shutil.rmtree(data / EDGE_DIR)  # the vectors lost: embedded again from the registry
    report = repair(data)
    assert report.store == "edge" and report.re_embedded == n
    engine = Engine(data, quick_settings(vector_store="edge"))
    try:
        assert engine.index.store_kind == "edge" and engine.index.count_points() == n
        assert results(engine, "hybrid") == before
    finally:
        engine.close()


def test_edge_refuses_a_second_process(tmp_path: Path) -> None:
    from core.errors import LibraryLockedError
    from core.vectorstore.edge import EdgeStore

    store = EdgeStore(tmp_path / "e", 4)
    try:
        store.upsert([StoredPoint("00000000-0000-0000-0000-000000000001", [1.0, 0, 0, 0], None, {"doc_key": "k"})])
        with pytest.raises(LibraryLockedError):
            EdgeStore(tmp_path / "e", 4)
    finally:
        store.close()


def test_opening_edge_reads_its_vectors_ahead_but_not_every_payload(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The open reads the shard's vectors, indexes and WAL in one sequential pass (closing a shard
    drops them from the page cache, and the load alone reads them back 4 KB at a time), never the
    payload pages, which only the hits need; the reopened shard answers as before."""
    from core.vectorstore import edge

    rng = np.random.default_rng(5)
    vecs = rng.normal(size=(300, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(len(vecs))]
    store = edge.EdgeStore(tmp_path / "e", 8)
    store.upsert([StoredPoint(pid, v.tolist(), ([1, 2], [0.5, 0.5]), {"doc_key": "k", "text": "x" * 2000})
                  for pid, v in zip(ids, vecs)])
    before = store.dense(vecs[7], 5, Scope())
    store.close()
    folder = tmp_path / "e"
    files = [f for f in [*(folder / "segments").rglob("*"), *(folder / "wal").rglob("*")] if f.is_file()]
    payload = sum(f.stat().st_size for f in files if "payload_storage" in f.parts)
    rest = sum(f.stat().st_size for f in files if "payload_storage" not in f.parts)
    read: list[int] = []
    real = edge.read_ahead
    monkeypatch.setattr(edge, "read_ahead", lambda path: read.append(real(path)) or read[-1])
    store = edge.EdgeStore(folder, 8)
    try:
        assert store.dense(vecs[7], 5, Scope()) == before
    finally:
        store.close()
    assert payload > 0 and read == [rest], (read, rest, payload)


# -- compacting Qdrant Edge (core.vectorstore.compact) -------------------------------------------------


def _segments(folder: Path) -> int:
    return len(list((folder / "segments").iterdir()))


def test_an_import_past_the_mark_compacts_edge_and_keeps_every_passage(library: Path, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """After an import that wrote COMPACT_AFTER passages or more, the shard is optimized in a child
    process (an immutable segment with the keyword index on disk): the same points and results."""
    import core.vectorstore.edge as edge

    data = tmp_path / "data"
    engine = Engine(data, quick_settings(vector_store="edge", keyword_search="qdrant"))
    try:
        monkeypatch.setattr(edge, "COMPACT_AFTER", 10**9)
        assert not [e for e in engine.ingest([str(library / "docs")]) if e.kind == "failed"]
        store = engine.index.store
        assert isinstance(store, edge.EdgeStore) and store.written == engine.index.count_points() > 0
        before = {m: results(engine, m) for m in ("hybrid", "dense", "sparse")}
        n, segments = engine.index.count_points(), _segments(data / EDGE_DIR)
        monkeypatch.setattr(edge, "COMPACT_AFTER", 1)
        list(engine.ingest([]))  # the end of an import checks the mark
        assert store.written == 0 and _segments(data / EDGE_DIR) > segments, "an optimized segment was made"
        assert engine.index.count_points() == n
        assert {m: results(engine, m) for m in ("hybrid", "dense", "sparse")} == before
    finally:
        engine.close()
    engine = Engine(data, quick_settings(vector_store="edge", keyword_search="qdrant"))
    try:  # and after opening the compacted shard again
        assert engine.index.count_points() == n
        assert {m: results(engine, m) for m in ("hybrid", "dense", "sparse")} == before
    finally:
        engine.close()


COMPACTING_PARENT = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[2])
    from pathlib import Path
    from core.vectorstore.compact import compact_shard

    if __name__ == "__main__":
        print("compacting", flush=True)
        compact_shard(Path(sys.argv[1]))
        print("finished", flush=True)
""")


def test_a_compaction_killed_midway_loses_nothing(tmp_path: Path) -> None:
    """Quitting kills the compacting child (it dies with its parent); the shard opens complete."""
    import multiprocessing
    import time

    from core.vectorstore import compact
    from core.vectorstore.edge import EdgeStore

    folder = tmp_path / EDGE_DIR
    store = EdgeStore(folder, 384)
    rng = np.random.default_rng(5)
    vecs = rng.normal(size=(30_000, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    points = [StoredPoint(f"00000000-0000-0000-0000-{i:012d}", vecs[i].tolist(), ([i % 500, 7], [1.0, 0.5]),
                          {"doc_key": f"k{i // 1000}", "text": f"passage {i}"}) for i in range(len(vecs))]
    store.upsert(points)
    store.close()
    ctx = multiprocessing.get_context("spawn")
    killed_midway = 0
    for delay in (0.3, 0.45, 0.6, 0.75, 0.9, 1.2, 1.5, 1.8):
        proc = ctx.Process(target=compact._child, args=(str(folder), os.getpid()))
        proc.start()
        time.sleep(delay)  # spawned, loading or optimizing
        if proc.is_alive():
            killed_midway += 1
            os.kill(proc.pid or 0, signal.SIGKILL)
        proc.join()
        store = EdgeStore(folder, 384)
        try:
            assert store.count() == 30_000
            top = store.dense(vecs[123], 3, Scope())
            assert max(top, key=lambda k: top[k]) == points[123].id
        finally:
            store.close()
        if killed_midway:
            break
    assert killed_midway, "every compaction ended before it could be killed: make the shard bigger"
    # The window quits (os._exit, or killed) while compacting: the child dies with it, so the
    # library opens again at once.
    parent = subprocess.Popen([sys.executable, "-c", COMPACTING_PARENT, str(folder), str(ROOT)],
                              stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None and parent.stdout.readline().strip() == "compacting"
    time.sleep(0.8)
    parent.kill()
    parent.wait(timeout=30)
    deadline = time.monotonic() + 5
    while True:
        try:
            store = EdgeStore(folder, 384)
            break
        except LibraryLockedError:
            assert time.monotonic() < deadline, "the compacting child outlived its parent and holds the shard"
            time.sleep(0.1)
    try:
        assert store.count() == 30_000
        assert store.compact() and store.count() == 30_000  # a later compaction completes
    finally:
        store.close()


def test_local_mode_hides_uncommitted_points_even_when_their_count_is_short(tmp_path: Path) -> None:
    """Local mode over-fetches by the hidden passages' count and drops them; a count that falls short
    (a version being deleted) still gives complete results, by filtering after all."""
    store = ClientStore(tmp_path, 8)
    rng = np.random.default_rng(2)
    near = np.ones(8, dtype=np.float32)
    points = []
    for i in range(60):  # 40 hidden points nearest the query, 20 visible ones further away
        key = "hidden" if i < 40 else "ready"
        vec = near + rng.normal(0, 0.05 if key == "hidden" else 0.6, 8).astype(np.float32)
        points.append(StoredPoint(f"00000000-0000-0000-0000-{i:012d}", (vec / np.linalg.norm(vec)).tolist(),
                                  None, {"doc_key": key}))
    store.upsert(points)
    visible = {p.id for p in points[40:]}
    try:
        for counted in (40, 10, 0):  # right, short, unknown
            found = store.dense(near, 5, Scope(hidden=("hidden",), hidden_points=counted))
            assert len(found) == 5 and set(found) <= visible, counted
        assert set(store.dense(near, 5, Scope(hidden=("hidden",), hidden_points=40))) == set(
            store.dense(near, 5, Scope(hidden=("hidden",))))
    finally:
        store.close()


def test_a_failed_compaction_leaves_the_library_searchable(library: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Compaction is an optimization: when it fails, the import stands, search works, and it is not
    retried before another COMPACT_AFTER passages are written."""
    import core.vectorstore.edge as edge

    engine = Engine(tmp_path / "data", quick_settings(vector_store="edge", keyword_search="qdrant"))
    try:
        monkeypatch.setattr(edge, "COMPACT_AFTER", 1)
        calls: list[Path] = []

        def broken(folder: Path) -> bool:
            calls.append(folder)
            raise OSError("no more processes")

        monkeypatch.setattr(edge, "compact_shard", broken)
        events = list(engine.ingest([str(library / "docs")]))
        assert calls and not [e for e in events if e.kind == "failed"]
        assert engine.index.count_points() > 0 and results(engine, "hybrid")[0], "search still works"
        store = engine.index.store
        assert isinstance(store, edge.EdgeStore) and store.written == 0, "no retry at every import"
    finally:
        engine.close()
