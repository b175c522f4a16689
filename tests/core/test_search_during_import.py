"""Search while a big related document is half imported: its written but uncommitted passages are
excluded inside the vector and keyword queries, so the committed passages come back in full.

Driving ``Engine.ingest`` part-way leaves the import paused between ``embedded`` events: its chunks
are in Qdrant and in SQLite, not yet committed. Before the exclusion moved into the queries, a
large enough import filled the candidate pool and search returned nothing (the answer abstained).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.engine import EMBED_BATCH, Engine
from core.events import IngestEvent
from core.settings import Settings

QUESTION = "What did the lighthouse keeper do with the lens?"
KEEPER = [
    "The lighthouse keeper climbed the spiral stairs at dusk and wound the clockwork of the lens.",
    "Each morning the lighthouse keeper wiped salt from the lens with a soft linen cloth.",
    "In storms the lighthouse keeper stayed awake all night beside the turning lens.",
    "The lighthouse keeper wrote the hours the lens was lit in a leather log book.",
    "When the lens cracked in 1903, the lighthouse keeper sent for a new one from Paris.",
]
UNRELATED = {
    "tea.txt": "Green tea is made from leaves of Camellia sinensis that have not been oxidised.",
    "volcano.txt": "The eruption of Eyjafjallajökull in 2010 grounded flights across Europe for six days.",
}
#: Uncommitted passages written before the searches: far more than any candidate pool.
PENDING_AT_LEAST = 5 * EMBED_BATCH


def paused_import(engine: Engine, path: Path) -> tuple[Iterator[IngestEvent], IngestEvent]:
    """Start importing a long document that repeats the question's words, and stop between
    ``embedded`` events once many of its passages are written but not committed."""
    path.write_text("\n\n".join(f"Entry {i}: the lighthouse keeper polished the lens of the lighthouse."
                                for i in range(2000)), encoding="utf-8")
    gen = engine.ingest([str(path)])
    for ev in gen:
        if ev.kind == "embedded" and ev.done >= PENDING_AT_LEAST:
            assert ev.done < ev.total, "the document must still be importing"
            return gen, ev
    raise AssertionError("the import never got far enough")


@pytest.fixture(params=["fts5", "qdrant"])
def keyword_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Both keyword backends: SQLite FTS5, and Qdrant's sparse BM25 with Prefetch fusion (the server path)."""
    from core.model_files import fast_llm_path

    fast = fast_llm_path()
    engine = Engine(tmp_path / "data", Settings(chunk_tokens=32, chunk_overlap=4, keyword_search=request.param,
                                                max_answer_tokens=8, temperature=0.0,
                                                model_path=str(fast) if fast else ""))
    yield engine
    engine.close()


def test_search_and_answers_ignore_a_half_imported_document(keyword_engine: Engine, tmp_path: Path) -> None:
    engine = keyword_engine
    keeper = tmp_path / "keeper.txt"
    keeper.write_text("\n\n".join(KEEPER), encoding="utf-8")
    for name, text in UNRELATED.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    events = list(engine.ingest([str(keeper), *(str(tmp_path / n) for n in UNRELATED)]))
    assert [e.kind for e in events if e.kind in ("done", "failed")] == ["done"] * 3, events
    keeper_id = engine.find(str(keeper)).id  # type: ignore[union-attr]
    k = len(engine.document_chunks(keeper_id))
    assert k >= 4

    modes = ("dense", "sparse", "hybrid")
    before = {m: [h.point_id for h in engine.search(QUESTION, top_k=k, mode=m)] for m in modes}
    for mode, ids in before.items():
        assert len(ids) == k, f"{mode}: the committed document alone fills top_k"
        assert {engine.chunk(p).document_id for p in ids} == {keeper_id}, mode  # type: ignore[union-attr]

    gen, paused = paused_import(engine, tmp_path / "log.txt")
    try:
        assert engine.index.count_points() >= k + len(UNRELATED) + PENDING_AT_LEAST
        for mode in modes:
            hits = engine.search(QUESTION, top_k=k, mode=mode)
            assert {h.point_id for h in hits} == set(before[mode]), (
                f"{mode}: {len(hits)} of {k} committed passages returned while {paused.done} were importing")
        # Scoped to the committed document, too (the chat's selection).
        scoped = engine.search(QUESTION, top_k=k, document_ids=[keeper_id])
        assert {h.point_id for h in scoped} == set(before["hybrid"])

        stream = engine.ask(QUESTION, use_cache=False)
        try:
            retrieved = next(ev for ev in stream if ev.kind == "retrieved")
        finally:
            stream.close()
        assert retrieved.chunks, "the answer abstained: its retrieval found nothing"
        assert {h.document_id for h in retrieved.chunks} == {keeper_id}
        assert all(h.dense_score is not None and h.dense_score > 0.3 for h in retrieved.chunks)

        rest = list(gen)
    finally:
        gen.close()
    assert rest[-1].kind == "done"
    # Committed now: the new document is searchable at once.
    assert any(h.source.endswith("log.txt") for h in engine.search(QUESTION, top_k=k, mode="dense"))
