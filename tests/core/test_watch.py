"""Watched folders with real files, the real engine (FastEmbed, Qdrant local mode) and the registry
file: catch-up after changes made while Footnote was not running, renames without re-embedding,
editors' scratch files ignored, bursts debounced, files still being written held back."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.engine import Engine
from core.errors import FootnoteError
from core.events import IngestEvent
from core.watch import ChangeBuffer, WatchRegistry, ignored

TOPICS = {
    "volcano.md": "# Volcanoes\n\nEyjafjallajökull erupted in 2010 and its ash cloud grounded flights over Europe.\n",
    "tea.txt": "Green tea is made from leaves of Camellia sinensis that have not been oxidised.\n",
    "solar.md": "# Solar\n\nThe first practical silicon solar cell was built at Bell Labs in 1954.\n",
}
SCRATCH = ["~$report.docx", "notes.md.swp", "movie.part", ".hidden.md", "draft.md~", "4913", "#notes.md#"]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    e = Engine(tmp_path / "data")
    yield e
    e.close()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "notes"
    (root / "sub").mkdir(parents=True)
    for name, text in TOPICS.items():
        (root / name).write_text(text, encoding="utf-8")
    (root / "sub" / "deep.md").write_text("# Deep\n\nThe Mariana Trench is the deepest known ocean trench.\n")
    for name in SCRATCH:
        (root / name).write_text("scratch text that must never become a document\n")
    (root / ".git").mkdir()
    (root / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (root / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)
    return root


def watch(engine: Engine, folder: Path, paths: list[str] | None = None) -> list[IngestEvent]:
    return list(engine.sync_folder(folder.resolve(), paths))


def wanted(folder: Path) -> set[str]:
    """The documents the library should hold for the folder: its readable files, scratch left out."""
    return {str(p.resolve()) for p in folder.rglob("*") if p.is_file() and not ignored(p, folder)
            and p.suffix in (".md", ".txt")}


def ready(engine: Engine, folder: Path) -> set[str]:
    root = str(folder.resolve())
    return {d.source for d in engine.documents() if d.status == "ready" and d.source.startswith(root)}


def in_library(engine: Engine, folder: Path) -> set[str]:
    root = str(folder.resolve())
    return {d.source for d in engine.documents() if d.source.startswith(root)}


def test_scratch_names_are_ignored() -> None:
    for name in SCRATCH + [".goutputstream-XYZ12", "x.crdownload", "Thumbs.db"]:
        assert ignored(name), name
    for name in ("report.docx", "notes.md", "4913.md", "a~b.txt", "tilde~/x"):
        assert not ignored(name), name
    assert ignored("/w/notes/.cache/a.md", "/w/notes")
    assert not ignored("/w/.profile/notes/a.md", "/w/.profile/notes")  # a hidden name above the root is fine


def test_registry_add_list_remove_and_its_file(tmp_path: Path, folder: Path) -> None:
    reg = WatchRegistry(tmp_path / "data")
    added = reg.add(folder)
    assert added.path == str(folder.resolve())
    assert [f.path for f in reg.folders()] == [added.path]
    with pytest.raises(FootnoteError, match="already watched as part of"):
        reg.add(folder / "sub")
    with pytest.raises(FootnoteError, match="no such folder"):
        reg.add(tmp_path / "missing")
    with pytest.raises(FootnoteError, match="own library folder"):
        reg.add(tmp_path)  # holds the data folder: Footnote's own writes would be watched
    data = json.loads((tmp_path / "data" / "watched.json").read_text())
    assert list(data["folders"]) == [added.path]
    assert reg.folder_of(folder / "sub" / "deep.md") == added.path
    reg.remove(folder)
    assert reg.folders() == []
    with pytest.raises(FootnoteError, match="not a watched folder"):
        reg.remove(folder)


def test_catch_up_matches_the_folder_and_leaves_scratch_out(engine: Engine, folder: Path) -> None:
    WatchRegistry(engine.data_dir).add(folder)
    events = watch(engine, folder)
    assert ready(engine, folder) == wanted(folder)
    assert in_library(engine, folder) == wanted(folder)  # no failed rows for scratch or the picture
    assert not [e for e in events if e.kind == "failed"]
    hits = engine.search("deepest ocean trench", top_k=1)
    assert hits and hits[0].source.endswith("deep.md")
    # A second look reads nothing: every file is as it was recorded.
    again = watch(engine, folder)
    assert [e for e in again if e.kind in ("done", "started")] == []


def test_changes_renames_and_deletes_while_not_running(tmp_path: Path, folder: Path) -> None:
    data = tmp_path / "data"
    engine = Engine(data)
    WatchRegistry(data).add(folder)
    watch(engine, folder)
    engine.close()

    # Footnote is not running: edit in place, save via temp file + rename-over, rename, delete, add.
    (folder / "tea.txt").write_text("Oolong tea is partly oxidised, between green and black tea.\n")
    tmp = folder / ".solar.md.tmp1234"
    tmp.write_text("# Solar\n\nPerovskite solar cells reached over 25 percent efficiency in the lab.\n")
    os.replace(tmp, folder / "solar.md")
    os.rename(folder / "volcano.md", folder / "sub" / "iceland.md")
    (folder / "sub" / "deep.md").unlink()
    (folder / "new.txt").write_text("Honey bees communicate the direction of flowers with a waggle dance.\n")

    engine = Engine(data)
    try:
        events = watch(engine, folder)
        assert ready(engine, folder) == wanted(folder)
        assert in_library(engine, folder) == wanted(folder)
        removed = {e.source for e in events if e.kind == "removed"}
        assert removed == {str((folder / "volcano.md").resolve()), str((folder / "sub" / "deep.md").resolve())}
        assert engine.search("waggle dance", top_k=1)[0].source.endswith("new.txt")
        assert "Perovskite" in engine.search("perovskite efficiency", top_k=1)[0].text
        top = engine.search("partly oxidised tea", top_k=1)[0]
        assert top.source.endswith("tea.txt") and "Oolong" in top.text
        assert engine.search("ash cloud flights", top_k=1)[0].source.endswith("iceland.md")
    finally:
        engine.close()


def test_a_renamed_file_is_not_embedded_again(engine: Engine, folder: Path) -> None:
    WatchRegistry(engine.data_dir).add(folder)
    watch(engine, folder)
    (folder / "moved").mkdir()
    os.rename(folder / "volcano.md", folder / "moved" / "volcano.md")
    embedded, reused = engine.embedded_passages, engine.reused_passages
    events = watch(engine, folder)
    assert [e.kind for e in events if e.kind in ("done", "removed")] == ["done", "removed"]
    assert engine.embedded_passages == embedded  # every passage kept its vector
    assert engine.reused_passages > reused
    assert ready(engine, folder) == wanted(folder)
    assert engine.search("ash cloud", top_k=1)[0].source == str((folder / "moved" / "volcano.md").resolve())


def test_an_edit_embeds_only_the_new_passages(tmp_path: Path, folder: Path) -> None:
    from core.settings import Settings

    engine = Engine(tmp_path / "data", Settings(chunk_tokens=32, chunk_overlap=0))
    try:
        WatchRegistry(engine.data_dir).add(folder)
        long = folder / "long.md"
        sections = [f"## Part {i}\n\nSection {i} talks about topic number {i} in some detail, at length.\n"
                    for i in range(30)]
        long.write_text("# Long\n\n" + "\n".join(sections))
        watch(engine, folder)
        total = next(d.chunks for d in engine.documents() if d.source == str(long.resolve()))
        long.write_text("# Long\n\n" + "\n".join(sections) + "\n## Extra\n\nA new closing section on glaciers.\n")
        embedded = engine.embedded_passages
        watch(engine, folder, [str(long)])
        assert 0 < engine.embedded_passages - embedded < total // 2
        assert "glaciers" in engine.search("closing section glaciers", top_k=1)[0].text
    finally:
        engine.close()


def test_event_paths_sync_only_what_they_name(engine: Engine, folder: Path) -> None:
    WatchRegistry(engine.data_dir).add(folder)
    watch(engine, folder)
    (folder / "tea.txt").unlink()
    (folder / "sub" / "new.md").write_text("# Otters\n\nSea otters hold hands while they sleep.\n")
    # Only the sub folder was reported: the deleted tea.txt waits for its own event or the next scan.
    watch(engine, folder, [str(folder / "sub")])
    assert str((folder / "sub" / "new.md").resolve()) in ready(engine, folder)
    assert str((folder / "tea.txt").resolve()) in ready(engine, folder)
    watch(engine, folder, [str(folder / "tea.txt"), str(folder / "notes.md.swp")])
    assert ready(engine, folder) == wanted(folder)


def test_a_folder_that_is_not_there_keeps_its_documents(tmp_path: Path, engine: Engine, folder: Path) -> None:
    WatchRegistry(engine.data_dir).add(folder)
    watch(engine, folder)
    before = ready(engine, folder)
    folder.rename(tmp_path / "unplugged")
    events = watch(engine, folder)
    assert ready(engine, folder) == before
    assert any("not there now" in e.error for e in events)


def test_a_burst_of_500_files(engine: Engine, tmp_path: Path) -> None:
    root = tmp_path / "burst"
    root.mkdir()
    WatchRegistry(engine.data_dir).add(root)
    for i in range(500):
        (root / f"note{i:03}.txt").write_text(f"Note {i}: the code word for this note is zebra{i}.\n")
    watch(engine, root)
    assert len(ready(engine, root)) == 500
    assert engine.search("zebra417", top_k=1, mode="sparse")[0].source.endswith("note417.txt")
    for i in range(0, 500, 2):
        (root / f"note{i:03}.txt").unlink()
    watch(engine, root)
    assert ready(engine, root) == wanted(root) and len(wanted(root)) == 250


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_change_buffer_holds_a_burst_together_and_waits_for_slow_writes(tmp_path: Path) -> None:
    clock = Clock()
    buf = ChangeBuffer(quiet_s=0.5, max_wait_s=30.0, clock=clock)
    files = [tmp_path / f"f{i}.txt" for i in range(500)]
    for f in files[:300]:
        f.write_text("x")
        buf.add(str(f))
    clock.now += 0.3
    for f in files[300:]:
        f.write_text("x")
        buf.add(str(f))
    batches = []
    slow = tmp_path / "slow.txt"
    slow.write_text("start")
    buf.add(str(slow))
    for step in range(40):  # 4 seconds in 0.1 s ticks; the slow file grows for the first 2 seconds
        clock.now += 0.1
        if step < 20 and step % 3 == 0:
            with slow.open("a") as fh:
                fh.write(" more")  # appended without an event reaching the buffer: only stat shows it
        batch = buf.due()
        if batch:
            batches.append(batch)
    assert len(batches) == 1, [len(b) for b in batches]  # the 500 waited for the slow file to settle
    assert set(batches[0]) == {str(f) for f in files} | {str(slow)}
    assert len(buf) == 0


def test_change_buffer_lets_settled_paths_through_a_stream_that_never_stops(tmp_path: Path) -> None:
    clock = Clock()
    buf = ChangeBuffer(quiet_s=0.5, max_wait_s=2.0, clock=clock)
    first = tmp_path / "first.txt"
    first.write_text("done")
    buf.add(str(first))
    released: list[str] = []
    for step in range(60):
        clock.now += 0.1
        busy = tmp_path / f"stream{step}.txt"
        busy.write_text("x")
        buf.add(str(busy))  # a new file every tick, for ever
        released += buf.due()
    assert str(first) in released
    gone = tmp_path / "gone.txt"
    buf.add(str(gone))  # created and deleted before it settled: nothing to wait for once quiet
    late: list[str] = []
    for _ in range(20):  # the stream has stopped: within two quiet periods everything is out
        clock.now += 0.1
        late += buf.due()
    assert str(gone) in late and len(buf) == 0
