"""A library made by an older pipeline is upgraded in place, and search never stops working.

The library is built with the current code, then turned into what an older Footnote left: the
format-1 registry (no format in ``meta``, no pipeline or page range columns) and passages an older
chunker made (their text marked, so the test can tell old passages from new).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from core.engine import Engine
from core.library_format import LIBRARY_FORMAT
from tests.core.conftest import DOCS

QUERIES = {"solar.md": "Who built the first silicon solar cell?", "tea.md": "Where did green tea originate?",
           "volcano.md": "Which eruption grounded flights across Europe?"}
OLD = " (made by the previous chunker)"


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """A library of its own (its sources are files this test may delete)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    engine = Engine(tmp_path / "data")
    try:
        assert not [e.error for e in engine.ingest([str(docs)]) if e.kind == "failed"]
    finally:
        engine.close()
    return tmp_path


def make_previous_version(data: Path) -> None:
    db = sqlite3.connect(data / "library.sqlite3")
    db.execute("UPDATE chunks SET text = text || ?", (OLD,))
    db.execute("ALTER TABLE documents DROP COLUMN pipeline")
    db.execute("ALTER TABLE chunks DROP COLUMN page_start")
    db.execute("ALTER TABLE chunks DROP COLUMN page_end")
    db.execute("DELETE FROM meta WHERE key IN ('format', 'pipeline')")
    db.commit()
    db.close()


def found(engine: Engine) -> dict[str, str]:
    """Each question's best passage: file name -> its text."""
    out = {}
    for name, q in QUERIES.items():
        hits = engine.search(q, top_k=1)
        assert hits, f"nothing found for {q!r}"
        assert Path(hits[0].source).name == name, f"{q!r} found {hits[0].source}"
        out[name] = hits[0].text
    return out


def test_reprocess_upgrades_old_documents_while_search_keeps_working(library: Path) -> None:
    data, docs = library / "data", library / "docs"
    make_previous_version(data)
    (docs / "volcano.md").unlink()  # its source is gone: its old passages must stay

    engine = Engine(data)
    try:
        assert engine.index.format_info()["format"] == str(LIBRARY_FORMAT)
        assert sorted(Path(d.source).name for d in engine.outdated()) == sorted(DOCS)
        before = found(engine)
        assert set(before) == set(DOCS) and all(text.endswith(OLD) for text in before.values())

        events = []
        for ev in engine.reprocess():
            events.append(ev)
            assert set(found(engine)) == set(DOCS), f"search lost a document after {ev.kind} {ev.source}"
        done = {Path(e.source).name for e in events if e.kind == "done"}
        assert done == {"solar.md", "tea.md"}
        kept = [e for e in events if e.kind == "skipped"]
        assert [Path(e.source).name for e in kept] == ["volcano.md"]
        assert "source not found; kept the passages from the last import" in kept[0].error

        after = found(engine)
        assert set(after) == set(DOCS)
        assert not after["solar.md"].endswith(OLD) and not after["tea.md"].endswith(OLD)
        assert after["volcano.md"].endswith(OLD)  # the old passages, still searchable
        volcano = next(d for d in engine.documents() if d.source.endswith("volcano.md"))
        assert volcano.status == "ready" and volcano.chunks > 0
        assert "source not found; kept the passages from the last import" in volcano.error
        assert [Path(d.source).name for d in engine.outdated()] == ["volcano.md"]
    finally:
        engine.close()


def test_an_unchanged_file_is_not_skipped_when_an_older_pipeline_made_it(library: Path) -> None:
    data, docs = library / "data", library / "docs"
    engine = Engine(data)
    try:
        assert [e.kind for e in engine.ingest([str(docs / "tea.md")]) if e.kind in ("skipped", "done")] == ["skipped"]
    finally:
        engine.close()
    make_previous_version(data)
    engine = Engine(data)
    try:
        kinds = [e.kind for e in engine.ingest([str(docs / "tea.md")]) if e.kind in ("skipped", "done")]
        assert kinds == ["done"]
        assert not found(engine)["tea.md"].endswith(OLD)
        assert "tea.md" not in {Path(d.source).name for d in engine.outdated()}
    finally:
        engine.close()


def test_reprocess_can_be_cancelled_and_resumes_next_time(library: Path) -> None:
    import threading

    data = library / "data"
    make_previous_version(data)
    engine = Engine(data)
    try:
        cancel = threading.Event()
        for ev in engine.reprocess(cancel=cancel):
            if ev.kind == "done":
                cancel.set()
        assert len(engine.outdated()) == len(DOCS) - 1
        assert set(found(engine)) == set(DOCS)
        assert not any(d.error for d in engine.documents())  # cancelling is not a failure to note
        list(engine.reprocess())
        assert engine.outdated() == []
    finally:
        engine.close()


def test_repair_completes_the_payloads_of_an_old_library(library: Path) -> None:
    """A library from before full payloads: repair gives every point the whole passage, so the
    registry can be rebuilt from the vector store afterwards."""
    from qdrant_client import QdrantClient

    from core.repair import repair

    data = library / "data"
    client = QdrantClient(path=str(data / "qdrant"))
    records, _ = client.scroll("footnote_chunks", limit=100, with_payload=True)
    for r in records:
        payload = r.payload or {}
        client.overwrite_payload("footnote_chunks", {k: payload[k] for k in ("doc_key", "document_id", "index")},
                                 points=[r.id], wait=True)
    client.close()
    report = repair(data)
    assert report.payloads_completed == len(records) and report.re_embedded == 0
    (data / "library.sqlite3").unlink()
    report = repair(data)
    assert report.documents == len(DOCS) and report.from_vectors == len(records)
    engine = Engine(data)
    try:
        assert set(found(engine)) == set(DOCS)
    finally:
        engine.close()


def test_an_unreachable_page_keeps_its_old_passages_with_a_note(tmp_path: Path, http_server: Any) -> None:
    http_server.route("/kiwi", body="<html><head><title>Kiwi</title></head><body><h1>Kiwi</h1>"
                                    "<p>The kiwi is a flightless bird native to New Zealand.</p></body></html>")
    data = tmp_path / "data"
    engine = Engine(data)
    try:
        assert [e.kind for e in engine.ingest([http_server.url("/kiwi")]) if e.kind == "done"] == ["done"]
    finally:
        engine.close()
    make_previous_version(data)
    http_server.route("/kiwi", status=404, body="gone")
    engine = Engine(data)
    try:
        events = list(engine.reprocess())
        assert [e.kind for e in events if e.kind in ("done", "skipped", "failed")] == ["skipped"]
        assert "kept the passages from the last import" in events[-1].error and "404" in events[-1].error
        doc = engine.documents()[0]
        assert doc.status == "ready" and doc.chunks > 0 and "kept the passages" in doc.error
        assert engine.search("flightless bird", top_k=1)[0].text.endswith(OLD)
    finally:
        engine.close()
