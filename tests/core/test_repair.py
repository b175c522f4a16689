"""A damaged library is one clear error line and a repair, never a traceback or a loss.

Every case damages real files of a real library (SQLite registry, Qdrant local mode folder,
settings.json), then checks what a user would notice: the error names the file and says what to
do, and after ``repair`` search finds the same documents again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from core.engine import Engine
from core.library_format import REPAIR_HINT, LibraryDamagedError
from core.repair import repair, salvage_registry
from core.settings import Settings
from tests.core.conftest import DOCS

QUERIES = {"solar.md": "Who built the first silicon solar cell?", "tea.md": "Where did green tea originate?",
           "volcano.md": "Which eruption grounded flights across Europe?"}


def top_sources(data: Path) -> dict[str, str]:
    """For each question, the file name of the best hit."""
    engine = Engine(data)
    try:
        return {name: Path(engine.search(q, top_k=1)[0].source).name for name, q in QUERIES.items()}
    finally:
        engine.close()


def open_and_search(data: Path) -> None:
    engine = Engine(data)
    try:
        engine.search("tea")
    finally:
        engine.close()


def garble(path: Path, offset: int, size: int) -> None:
    with path.open("r+b") as fh:
        fh.seek(offset)
        fh.write(os.urandom(size))


def registry_header(data: Path) -> None:
    garble(data / "library.sqlite3", 0, 100)


def registry_pages(data: Path) -> None:
    db = data / "library.sqlite3"
    garble(db, 4096 * 2, 4096 * 3)


def vectors_deleted(data: Path) -> None:
    shutil.rmtree(data / "qdrant")


def vectors_garbled(data: Path) -> None:
    garble(data / "qdrant" / "collection" / "footnote_chunks" / "storage.sqlite", 0, 300)


def vectors_meta_garbled(data: Path) -> None:
    (data / "qdrant" / "meta.json").write_text("{not json", encoding="utf-8")


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "registry header overwritten": (registry_header, "library.sqlite3"),
    "registry pages overwritten": (registry_pages, "library.sqlite3"),
    "vector folder deleted": (vectors_deleted, "qdrant"),
    "vector storage garbled": (vectors_garbled, "qdrant"),
    "vector meta garbled": (vectors_meta_garbled, "qdrant"),
}


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damage_is_one_clear_line_and_repair_brings_every_document_back(library: Path, case: str) -> None:
    data = library / "data"
    before = top_sources(data)
    assert before == {name: name for name in QUERIES}
    damage, file_name = DAMAGE[case]
    damage(data)

    with pytest.raises(LibraryDamagedError) as err:
        open_and_search(data)
    message = str(err.value)
    assert "\n" not in message
    assert str(data / file_name) in message and REPAIR_HINT in message

    report = repair(data)
    assert report.changed and report.documents == len(DOCS) and not report.dropped
    assert top_sources(data) == before
    assert not repair(data).changed  # a repaired library is sound


def test_both_sides_damaged_keeps_what_either_holds(library: Path) -> None:
    """The registry loses rows and the vector store loses points: each fills the other's gaps."""
    data = library / "data"
    db = sqlite3.connect(data / "library.sqlite3")
    solar = db.execute("SELECT id, ready_key FROM documents WHERE source LIKE '%solar.md'").fetchone()
    db.execute("DELETE FROM chunks WHERE doc_key=?", (solar[1],))
    db.execute("DELETE FROM documents WHERE id=?", (solar[0],))
    db.commit()
    db.close()
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm

    client = QdrantClient(path=str(data / "qdrant"))
    client.delete("footnote_chunks", points_selector=qm.FilterSelector(filter=qm.Filter(must=[
        qm.FieldCondition(key="source", match=qm.MatchText(text="tea.md"))])), wait=True)
    client.close()

    report = repair(data)
    assert report.from_vectors >= 1 and report.re_embedded >= 1 and not report.dropped
    assert top_sources(data) == {name: name for name in QUERIES}


def test_a_document_with_no_passages_left_is_dropped_and_named(library: Path) -> None:
    data = library / "data"
    db = sqlite3.connect(data / "library.sqlite3")
    db.execute("DELETE FROM chunks WHERE document_id IN (SELECT id FROM documents WHERE source LIKE '%tea.md')")
    db.commit()
    db.close()
    from qdrant_client import QdrantClient
    from qdrant_client import models as qm

    client = QdrantClient(path=str(data / "qdrant"))
    client.delete("footnote_chunks", points_selector=qm.FilterSelector(filter=qm.Filter(must=[
        qm.FieldCondition(key="source", match=qm.MatchText(text="tea.md"))])), wait=True)
    client.close()
    report = repair(data)
    assert [Path(s).name for s in report.dropped] == ["tea.md"]
    engine = Engine(data)
    try:
        assert sorted(Path(d.source).name for d in engine.documents()) == ["solar.md", "volcano.md"]
    finally:
        engine.close()


def test_repair_through_an_open_engine(library: Path) -> None:
    """The window repairs with the engine it has open when the damage shows after opening."""
    data = library / "data"
    engine = Engine(data)
    try:
        vectors_deleted(data)
        with pytest.raises(LibraryDamagedError):
            engine.search("tea")
        report = engine.repair()
        assert report.re_embedded > 0
        assert Path(engine.search(QUERIES["tea.md"], top_k=1)[0].source).name == "tea.md"
    finally:
        engine.close()


def test_wrong_typed_settings_keep_the_good_fields_and_name_the_bad(tmp_path: Path,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "settings.json").write_text(json.dumps({
        "top_k": "five", "dense_weight": [0.5], "chunk_tokens": 150, "blocked_terms": ["ok", 3],
        "answerable_min": None, "temperature": 1, "embed_threads": True}), encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="core.settings"):
        s = Settings.load(tmp_path)
    default = Settings()
    assert (s.top_k, s.dense_weight, s.blocked_terms, s.embed_threads) == (
        default.top_k, default.dense_weight, default.blocked_terms, default.embed_threads)
    assert (s.chunk_tokens, s.answerable_min, s.temperature) == (150, None, 1.0)
    warned = " ".join(r.getMessage() for r in caplog.records)
    for name in ("top_k", "dense_weight", "blocked_terms", "embed_threads"):
        assert f"field={name}" in warned
    assert "chunk_tokens" not in warned


@pytest.mark.parametrize("text", ["[1, 2]", '"five"', "{broken"])
def test_settings_that_are_not_an_object_fall_back_to_defaults(tmp_path: Path, text: str) -> None:
    (tmp_path / "settings.json").write_text(text, encoding="utf-8")
    assert Settings.load(tmp_path) == Settings()


def test_wrong_typed_settings_open_the_engine_and_repair_rewrites_the_file(library: Path) -> None:
    data = library / "data"
    (data / "settings.json").write_text(json.dumps({"top_k": "five", "chunk_overlap": 20}), encoding="utf-8")
    engine = Engine(data)
    try:
        assert engine.settings.top_k == Settings().top_k and engine.settings.chunk_overlap == 20
        assert Path(engine.search(QUERIES["tea.md"])[0].source).name == "tea.md"
    finally:
        engine.close()
    report = repair(data)
    assert any("top_k" in line for line in report.settings)
    saved = json.loads((data / "settings.json").read_text(encoding="utf-8"))
    assert saved["top_k"] == Settings().top_k and saved["chunk_overlap"] == 20
    assert any(Path(p).name.startswith("settings.json.damaged-") for p in report.kept_aside)


@pytest.mark.parametrize("use_tool", [True, False])
def test_salvage_reads_past_damaged_pages(library: Path, tmp_path: Path, use_tool: bool) -> None:
    """With or without the sqlite3 tool (a packaged app has none), rows outside the damage come back."""
    data = library / "data"
    engine = Engine(data, Settings(chunk_tokens=16, chunk_overlap=2))
    try:
        docs = tmp_path / "long"
        docs.mkdir()
        for i in range(6):
            (docs / f"long{i}.md").write_text("\n\n".join(f"Entry {j} of file {i} about item {i * 100 + j}."
                                                          for j in range(60)), encoding="utf-8")
        assert not [e for e in engine.ingest([str(docs)]) if e.kind == "failed"]
        expected = engine.index.ready_chunk_count()
    finally:
        engine.close()
    db = data / "library.sqlite3"
    pages = db.stat().st_size // 4096
    garble(db, 4096 * (pages // 2), 4096)
    found_docs, found_chunks, how = salvage_registry(db, use_sqlite_tool=use_tool)
    assert len([d for d in found_docs if d.get("ready_key")]) >= len(DOCS)
    assert expected // 2 < len(found_chunks) <= expected
    assert "row by row" in how


def test_the_integrity_check_is_skipped_only_for_a_file_left_as_it_was(library: Path) -> None:
    """quick_check reads the whole registry; after a clean close the file's stamp lets the next open
    skip it. An open library has no stamp (a crash means a full check), and damage after the close
    changes the stamp, so it is still one clear error at open."""
    data = library / "data"
    stamp = data / "library.sqlite3.checked"
    engine = Engine(data)
    try:
        assert not stamp.exists(), "while the library is open the next open must check"
    finally:
        engine.close()
    assert stamp.exists()
    registry_pages(data)
    with pytest.raises(LibraryDamagedError):
        open_and_search(data)
