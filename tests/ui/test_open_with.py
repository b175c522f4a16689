"""Open with Footnote, and the command line beside an open window.

A real window (with the single-instance server of ``desktop.app``) runs in this process; the CLI
runs as a real ``python -m desktop.main`` subprocess, as a terminal or a file manager starts it.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from desktop import remote
from desktop.single_instance import SingleInstance
from tests.ui.conftest import quick_settings
from tests.ui.helpers import all_ready, row_for

ROOT = Path(__file__).resolve().parents[2]
CLI_TIMEOUT_MS = 180_000


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["QT_QPA_PLATFORM"] = "offscreen"
    e.pop("FOOTNOTE_DATA_DIR", None)
    return e


def start(data_dir: Path, *args: str, cwd: Path = ROOT) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "desktop.main", "--data-dir", str(data_dir), *args],
                            cwd=cwd, env={**env(), "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(qtbot: Any, proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for the CLI while the window's event loop keeps running (it serves the request)."""
    try:
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=CLI_TIMEOUT_MS)
    finally:
        if proc.poll() is None:
            proc.kill()
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


@pytest.fixture
def served(window: Any, data_dir: Path) -> Iterator[SingleInstance]:
    """The window's channel wired as ``desktop.app.run_app`` wires it."""
    instance = SingleInstance(data_dir)
    assert instance.listen()
    instance.activated.connect(window.bring_forward)
    instance.open_requested.connect(window.import_paths)
    instance.serve(window.services)
    yield instance
    instance.close()


def test_cli_library_commands_run_in_the_window_and_print_the_same(
        qtbot: Any, window: Any, served: SingleInstance, data_dir: Path, docs: Path) -> None:
    # ingest from another folder with a relative path: the window reads the caller's file
    code, out, err = finish(qtbot, start(data_dir, "ingest", "tea.md", "solar.md", cwd=docs))
    assert code == 0, err
    assert out.splitlines() == ["imported  Green tea (1 chunks)", "imported  Solar power (1 chunks)",
                                "2 imported, 0 unchanged, 0 failed"]
    assert all_ready(window, ["tea.md", "solar.md"])  # the window showed the import like a drop
    commands = [("list",), ("list", "--json"), ("search", "--json", "green tea origin"), ("search", "photovoltaic"),
                ("remove", "no-such-document"), ("ingest", "--json", str(docs / "tea.md")),
                ("related", "--json", str(docs / "tea.md")), ("conversations", "list")]
    in_window = [finish(qtbot, start(data_dir, *c)) for c in commands]
    assert in_window[0][0] == 0 and "Green tea" in in_window[0][1] and "ready" in in_window[0][1]
    hits = json.loads(in_window[2][1])["results"]
    assert hits and hits[0]["title"] == "Green tea"
    assert in_window[4][0] == 1 and "no-such-document" in in_window[4][2]
    assert json.loads(in_window[5][1])["skipped"][0]["reason"].startswith("unchanged")
    assert [Path(d["source"]).name for d in json.loads(in_window[6][1])["related"]] == ["solar.md"]
    assert in_window[7][0] == 0

    code, out, err = finish(qtbot, start(data_dir, "repair"))
    assert code == 3 and "close the Footnote window" in err and out == ""

    # Without the window the same commands print the same, byte for byte, with the same exit codes.
    served.close()
    window.close()
    assert window.services.shutdown(10.0)
    alone = [subprocess.run([sys.executable, "-m", "desktop.main", "--data-dir", str(data_dir), *c], cwd=ROOT,
                            env=env(), capture_output=True, text=True, timeout=300) for c in commands]
    for c, (code, out, err), direct in zip(commands, in_window, alone):
        assert (code, out) == (direct.returncode, direct.stdout), c
        assert err == direct.stderr, c


def test_footnote_file_with_a_window_open_imports_it_there(
        qtbot: Any, window: Any, served: SingleInstance, data_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "My Notes"
    folder.mkdir()
    note = folder / "café notes.md"
    note.write_text("# Lighthouses\n\nThe Pharos of Alexandria was one of the Seven Wonders.\n", encoding="utf-8")
    url = "file://" + quote(str(note))  # what a file manager passes for %U
    with qtbot.waitSignal(window.activated, timeout=CLI_TIMEOUT_MS):
        proc = start(data_dir, url)
    code, _out, err = finish(qtbot, proc)
    assert code == 0, err
    assert "already open" in err and "1 item" in err
    qtbot.waitUntil(lambda: all_ready(window, ["café notes.md"]), timeout=CLI_TIMEOUT_MS)
    row = row_for(window, "café notes.md")
    assert row is not None and row.source == str(note)


def forwarded_list(data_dir: Path) -> dict[str, Any] | None:
    """``footnote list --json`` through the channel, in this process (fast enough to poll)."""
    import argparse

    out, err = io.StringIO(), io.StringIO()
    try:
        code = remote.forward(data_dir, argparse.Namespace(command="list", json=True), out, err)
    except remote.WindowError:
        return None
    if code != 0:
        return None
    parsed: dict[str, Any] = json.loads(out.getvalue())
    return parsed


def test_footnote_file_without_a_window_starts_one_that_imports_it(qtbot: Any, tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh library"
    quick_settings().save(data_dir)
    note = tmp_path / "harbour.md"
    note.write_text("# Harbours\n\nRotterdam has the largest port in Europe.\n", encoding="utf-8")
    proc = start(data_dir, "harbour.md", cwd=tmp_path)
    try:
        def imported() -> bool:
            assert proc.poll() is None, proc.communicate()[1]
            listed = forwarded_list(data_dir)
            return listed is not None and [(d["source"], d["status"]) for d in listed["documents"]] == [
                (str(note), "ready")]

        qtbot.waitUntil(imported, timeout=CLI_TIMEOUT_MS)
        code, out, err = finish(qtbot, start(data_dir, "search", "largest port"))
        assert code == 0, err
        assert "Harbours" in out and str(note) in out
        proc.send_signal(signal.SIGTERM)
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=60_000)
        assert proc.returncode == 0
        assert not remote.window_running(data_dir)  # the channel closed with the window
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)


def test_watch_sync_runs_in_the_window(qtbot: Any, window: Any, served: SingleInstance, data_dir: Path,
                                       docs: Path) -> None:
    code, out, err = finish(qtbot, start(data_dir, "watch", "add", str(docs)))
    assert code == 0, err
    (docs / "kelp.md").write_text("# Kelp\n\nKelp forests grow along cold, nutrient-rich coasts.\n", encoding="utf-8")
    code, out, err = finish(qtbot, start(data_dir, "watch", "sync", ".", cwd=docs))  # the caller's folder
    assert code == 0, err
    assert "already open" not in err
    qtbot.waitUntil(lambda: all_ready(window, ["kelp.md"]), timeout=CLI_TIMEOUT_MS)


def test_conversations_export_works_while_the_window_runs(qtbot: Any, window: Any, served: SingleInstance,
                                                          data_dir: Path, tmp_path: Path) -> None:
    from core.conversations import Citation

    store = window.services.conversation_store()
    conv = store.create("Tea")
    cite = Citation(n=1, chunk_id="c1", document_id="d1", source="/docs/tea.md", title="Green tea", section="",
                    page=None, text="Green tea originated in China.")
    store.add_message(conv.id, "user", "Where does green tea come from?")
    store.add_message(conv.id, "assistant", "From China [1].", citations=[cite])
    out_file = tmp_path / "tea.md"
    code, out, err = finish(qtbot, start(data_dir, "conversations", "export", conv.id, "-o", str(out_file)))
    assert code == 0, err
    text = out_file.read_text(encoding="utf-8")
    assert "From China [1]." in text and "1. **Green tea**" in text
