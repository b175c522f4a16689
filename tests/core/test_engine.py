"""The engine end to end with real parts: FastEmbed, Qdrant local mode, SQLite, real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.engine import Engine
from core.errors import LibraryLockedError
from core.events import IngestEvent
from core.settings import Settings
from tests.core.fixtures import make_pdf

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(tmp_path / "data")
    yield e
    e.close()


@pytest.fixture
def small_engine(tmp_path: Path) -> Iterator[Engine]:
    """Tiny chunks, so a short text makes many embedding batches and an import can be caught midway."""
    e = Engine(tmp_path / "data", Settings(chunk_tokens=16, chunk_overlap=2))
    yield e
    e.close()


def half_imported(engine: Engine, f: Path, line: str) -> Iterator[IngestEvent]:
    """Write a long file and start importing it; returns the import paused after its first batch."""
    f.write_text("\n\n".join(f"Entry {i}: {line}" for i in range(300)))
    gen = engine.ingest([str(f)])
    for ev in gen:
        if ev.kind == "embedded":
            assert ev.done < ev.total
            return gen
    raise AssertionError("the import never reported progress")


def run(engine: Engine, *sources: Path | str) -> list[IngestEvent]:
    return list(engine.ingest([str(s) for s in sources]))


def kinds(events: list[IngestEvent], kind: str) -> list[IngestEvent]:
    return [e for e in events if e.kind == kind]


def test_import_search_reimport_change_remove(engine: Engine, tmp_path: Path) -> None:
    a = tmp_path / "volcano.txt"
    a.write_text("Mount Etna is an active volcano on the east coast of Sicily.\n\nIt erupts often.")
    b = tmp_path / "bread.md"
    b.write_text("# Bread\n\nSourdough bread rises with wild yeast and lactic bacteria.")
    events = run(engine, a, b)
    assert [e.kind for e in events if e.source == str(a)] == ["started", "chunked", "embedded", "done"]
    hits = engine.search("Which volcano is on Sicily?", top_k=2)
    assert hits[0].source == str(a) and "Etna" in hits[0].text
    assert hits[0].title == "volcano"

    assert kinds(run(engine, a), "skipped"), "unchanged content is a no-op"
    v = engine.library_version()

    a.write_text("Mount Vesuvius overlooks the Bay of Naples and buried Pompeii in 79 AD.")
    assert kinds(run(engine, a), "done")
    assert engine.library_version() > v
    texts = [h.text for h in engine.search("volcano", top_k=5)]
    assert any("Vesuvius" in t for t in texts) and not any("Etna" in t for t in texts), "old chunks replaced"

    engine.remove(str(a))
    assert all(h.source != str(a) for h in engine.search("Vesuvius Naples Pompeii", top_k=5))
    assert [d.source for d in engine.documents()] == [str(b)]


def test_pdf_citation_metadata(engine: Engine, tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "manual.pdf", ["Chapter one is about installing.", "The warranty lasts five years."])
    run(engine, pdf)
    hit = engine.search("How long is the warranty?", top_k=1)[0]
    assert hit.page == 2 and "five years" in hit.text


def test_bad_input_never_harms_the_index(engine: Engine, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("The Nile is the longest river in Africa.")
    run(engine, good)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    (bad / "junk.pdf").write_bytes(os.urandom(2048))
    make_pdf(bad / "locked.pdf", ["secret"], password="pw")
    (bad / "broken.docx").write_bytes(b"not a zip")
    (bad / "ok.txt").write_text("Penguins live in Antarctica.")
    events = run(engine, bad, tmp_path / "nope.txt")
    failed = {Path(e.source).name: e.error for e in kinds(events, "failed")}
    assert set(failed) == {"empty.txt", "junk.pdf", "locked.pdf", "broken.docx", "nope.txt"}
    assert "encrypted" in failed["locked.pdf"] and failed["locked.pdf"].startswith(str(bad / "locked.pdf"))
    assert [Path(e.source).name for e in kinds(events, "done")] == ["ok.txt"]
    assert engine.search("longest river in Africa", top_k=1)[0].source == str(good)
    statuses = {Path(d.source).name: (d.status, d.error) for d in engine.documents()}
    assert statuses["good.txt"][0] == "ready" and statuses["ok.txt"][0] == "ready"
    assert statuses["junk.pdf"][0] == "failed" and "not a valid PDF" in statuses["junk.pdf"][1]


def test_failed_reimport_keeps_the_ready_version(engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "notes.txt"
    f.write_text("Otters hold hands while they sleep.")
    run(engine, f)
    f.write_bytes(b"")
    assert kinds(run(engine, f), "failed")
    assert "Otters" in engine.search("otters sleep", top_k=1)[0].text


def test_cancel_leaves_no_half_document(small_engine: Engine, tmp_path: Path) -> None:
    import threading

    f = tmp_path / "long.txt"
    f.write_text("\n\n".join(f"Paragraph {i} talks about topic number {i} in detail." for i in range(400)))
    cancel = threading.Event()
    events = []
    for ev in small_engine.ingest([str(f)], cancel=cancel):
        events.append(ev)
        if ev.kind == "embedded":
            cancel.set()
    assert events[-1].kind == "failed" and "cancelled" in events[-1].error
    assert small_engine.documents()[0].status == "failed"
    assert small_engine.search("topic number 3", top_k=3) == []
    assert small_engine.index.count_points() == 0


def test_second_engine_on_same_folder_is_refused(engine: Engine) -> None:
    with pytest.raises(LibraryLockedError, match="already open in another Footnote process"):
        Engine(engine.data_dir)


def test_second_process_gets_one_clear_line_and_exit_3(engine: Engine) -> None:
    proc = subprocess.run([sys.executable, "-m", "desktop.main", "--data-dir", str(engine.data_dir), "list"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr == f"this library is already open in another Footnote process: {engine.data_dir}\n"


CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from core.engine import Engine
    from core.settings import Settings
    engine = Engine(Path(sys.argv[1]), Settings(chunk_tokens=16, chunk_overlap=2))
    for ev in engine.ingest([sys.argv[2]]):
        print(ev.kind, ev.done, ev.total, flush=True)
""")


def test_killed_import_leaves_no_half_document_and_restarts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    doc = tmp_path / "big.txt"
    doc.write_text("\n\n".join(f"Section {i}: the quick brown fox number {i} jumps." for i in range(600)))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(data), str(doc)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("embedded"):
                done, total = map(int, line.split()[1:])
                assert done < total, "the document must still be importing when we kill it"
                break
        else:
            pytest.fail("the child never reported progress")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    engine = Engine(data, Settings(chunk_tokens=16, chunk_overlap=2))
    try:
        assert engine.search("quick brown fox", top_k=3) == [], "no half document is searchable"
        assert engine.index.count_points() == 0, "the unfinished chunks were cleaned up"
        assert engine.documents() == []
        events = run(engine, doc)
        assert events[-1].kind == "done"
        assert engine.index.count_points() == events[-1].total
        assert engine.search("fox number 7 jumps", top_k=1)[0].source == str(doc)
    finally:
        engine.close()


def test_bad_urls_fail_one_by_one_and_good_pages_import(engine: Engine, tmp_path: Path, http_server: Any) -> None:
    keep = tmp_path / "keep.txt"
    keep.write_text("Saturn has the most spectacular rings of any planet.")
    run(engine, keep)
    http_server.route("/good", body="<title>Moths</title><p>Moths navigate by the moon.</p>")
    http_server.route("/gone", status=404, body="no")
    http_server.route("/slow", body="<p>late</p>", delay=3.0)
    http_server.route("/loop1", redirect_to="/loop2")
    http_server.route("/loop2", redirect_to="/loop1")
    http_server.route("/tofile", redirect_to="file:///etc/passwd")
    http_server.route("/img", body=b"\x89PNG\r\n\x1a\n" + b"0" * 100, content_type="image/png")
    http_server.route("/zip", body=b"PK\x03\x04" + b"0" * 100, content_type="application/zip")
    http_server.route("/huge", body=lambda: (b"<p>" + b"a" * 1_048_576 for _ in range(20)))
    http_server.robots("User-agent: *\nDisallow: /private")
    http_server.route("/private", body="<p>secret</p>")
    from core.ingest import web

    bad = ["/gone", "/loop1", "/tofile", "/img", "/zip", "/huge", "/private"]
    urls = [http_server.url(p) for p in [*bad, "/good"]]
    events = list(engine.ingest(urls))
    slow = list(web.crawl(http_server.url("/slow"), timeout=0.5))
    failed = {e.source: e.error for e in kinds(events, "failed")}
    assert set(failed) == {http_server.url(p) for p in bad}
    for url, error in failed.items():
        assert error.startswith(url + ": ")
    assert "404" in failed[http_server.url("/gone")]
    assert "redirect" in failed[http_server.url("/loop1")]
    assert "file://" in failed[http_server.url("/tofile")]
    assert "image/png" in failed[http_server.url("/img")]
    assert "application/zip" in failed[http_server.url("/zip")]
    assert "too large" in failed[http_server.url("/huge")]
    assert "robots.txt" in failed[http_server.url("/private")]
    assert isinstance(slow[0], Exception) and "did not answer" in str(slow[0])
    assert [e.title for e in kinds(events, "done")] == ["Moths"]
    assert engine.search("what do moths navigate by", top_k=1)[0].title == "Moths"
    assert engine.search("planet with rings", top_k=1)[0].source == str(keep)


def test_context_shows_the_text_around_a_passage(tmp_path: Path) -> None:
    engine = Engine(tmp_path / "data", Settings(chunk_tokens=16, chunk_overlap=2))
    try:
        f = tmp_path / "story.txt"
        f.write_text("The lighthouse keeper woke before dawn every day.\n\n"
                     "He climbed the spiral stairs to polish the great lens.\n\n"
                     "At dusk he lit the lamp for the passing fishing boats.")
        run(engine, f)
        hit = engine.search("polish the great lens", top_k=1)[0]
        assert "spiral stairs" in hit.text
        before, after = engine.context(hit.point_id)
        assert before.startswith("The lighthouse keeper") and "spiral" not in before
        assert "lit the lamp" in after and "spiral" not in after
    finally:
        engine.close()


def test_qdrant_native_keyword_search_and_fusion(tmp_path: Path) -> None:
    """keyword_search=qdrant (the default against a Qdrant server): BM25 sparse vectors with IDF in
    Qdrant, fused with dense by the Query API. Run here in local mode, the same code path."""
    engine = Engine(tmp_path / "data", Settings(keyword_search="qdrant"))
    try:
        docs = {"zebra.txt": "Zebras have black and white stripes that confuse biting flies.",
                "glacier.txt": "Glaciers carve U-shaped valleys as they slowly move downhill.",
                "violin.txt": "A violin has four strings tuned in perfect fifths."}
        for name, text in docs.items():
            (tmp_path / name).write_text(text)
        run(engine, *(tmp_path / n for n in docs))
        assert engine.index.has_sparse
        [kw] = engine.search("fifths", top_k=1, mode="sparse")  # a word only BM25 can match exactly
        assert kw.source.endswith("violin.txt")
        hits = engine.search("why do zebras have stripes", top_k=3)
        assert hits[0].source.endswith("zebra.txt")
        assert hits[0].dense_score is not None and hits[0].dense_score > 0.3
        engine.remove(str(tmp_path / "zebra.txt"))
        assert all(not h.source.endswith("zebra.txt") for h in engine.search("zebra stripes", top_k=3))
    finally:
        engine.close()


def test_same_document_imported_twice_at_once(small_engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "log.txt"
    first = half_imported(small_engine, f, "the kettle whistled at seven.")
    second = list(small_engine.ingest([str(f)]))
    assert second[-1].kind == "failed" and "already being imported" in second[-1].error
    rest = list(first)
    assert rest[-1].kind == "done"
    assert small_engine.index.count_points() == rest[-1].total, "the first import is whole"


def test_remove_during_import_leaves_nothing(small_engine: Engine, tmp_path: Path) -> None:
    f = tmp_path / "log.txt"
    gen = half_imported(small_engine, f, "the heron stood in the reeds.")
    small_engine.remove(str(f))
    rest = list(gen)
    assert rest[-1].kind == "failed" and "removed while it was being imported" in rest[-1].error
    assert small_engine.documents() == [] and small_engine.index.count_points() == 0


def test_failed_clean_up_of_the_old_version_never_loses_the_new_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    f = tmp_path / "menu.txt"
    f.write_text("Soup of the day: tomato.")
    engine = Engine(data)
    try:
        run(engine, f)
        f.write_text("Soup of the day: pumpkin.")
        real = engine.index._delete_key

        def flaky(doc_key: str, ids: Any = None) -> None:
            if ids:  # the old version's clean-up after the switch
                raise OSError("disk hiccup")
            real(doc_key, ids)

        monkeypatch.setattr(engine.index, "_delete_key", flaky)
        assert run(engine, f)[-1].kind == "done"
        monkeypatch.undo()
        assert "pumpkin" in engine.search("soup of the day", top_k=1)[0].text
    finally:
        engine.close()
    engine = Engine(data)  # the next open finishes the deferred clean-up
    try:
        assert engine.index.count_points() == 1
        assert "pumpkin" in engine.search("soup of the day", top_k=1)[0].text
    finally:
        engine.close()


def test_an_unexpected_reader_error_fails_one_file_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import core.engine as engine_module
    from tests.core import guard_targets

    # A reader with a bug on one file (it runs in the parse worker, so it must be importable).
    monkeypatch.setattr(engine_module, "load_path", guard_targets.reader_with_a_bug)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "weird.txt").write_text("x")
    (tmp_path / "docs" / "fine.txt").write_text("Geese fly south in autumn.")
    engine = Engine(tmp_path / "data")
    try:
        events = run(engine, tmp_path / "docs")
        failed = kinds(events, "failed")
        assert len(failed) == 1 and failed[0].error.endswith("weird.txt: the reader failed (RecursionError)")
        assert [Path(e.source).name for e in kinds(events, "done")] == ["fine.txt"]
    finally:
        engine.close()
