"""Watched folders in the real window: File > Watch folder…, then changes made to the folder (new,
edited in place, saved via rename-over, renamed, deleted, a burst, a slow write) reach the library
on their own; the CLI adds a folder while the window runs; a restart catches up."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from desktop.services import Services
from tests.ui.conftest import open_window
from tests.ui.helpers import all_ready, row_for, rows
from ui.main_window import ChooseFolder

WAIT_MS = 120_000
ROOT = Path(__file__).resolve().parents[2]


def names(window: object) -> set[str]:
    return {Path(d.source).name for d in rows(window) if d.status == "ready"}


def search(qtbot, window, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Search through the services, in a worker, as the window would."""
    out: list[list[str]] = []
    window.services.call(lambda e: [f"{Path(h.source).name}: {h.text}" for h in e.search(query, top_k=1)], out.append)
    qtbot.waitUntil(lambda: bool(out), timeout=WAIT_MS)
    return out[0]


def watch_from_menu(qtbot, window, folder: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(ChooseFolder, "ask", classmethod(lambda cls, parent: str(folder)))
    window.watch_action.trigger()
    qtbot.waitUntil(lambda: window.library.watched_label.isVisible(), timeout=WAIT_MS)
    assert folder.name in window.library.watched_label.text()


def test_watch_folder_follows_changes(qtbot, window, docs: Path, monkeypatch) -> None:
    (docs / "~$draft.docx").write_bytes(b"lock file")
    (docs / "notes.md.swp").write_bytes(b"swap")
    watch_from_menu(qtbot, window, docs, monkeypatch)
    qtbot.waitUntil(lambda: all_ready(window, ["solar.md", "tea.md", "volcano.md"]), timeout=WAIT_MS)
    assert names(window) == {"solar.md", "tea.md", "volcano.md"}

    (docs / "otters.txt").write_text("Sea otters hold hands while they sleep so they do not drift apart.\n")
    qtbot.waitUntil(lambda: "otters.txt" in names(window), timeout=WAIT_MS)
    assert "otters" in window.status_text.text()  # the status bar says what arrived

    tmp = docs / ".tea.md.goutputstream-1"  # an editor's save: a temporary file renamed over the original
    tmp.write_text("# Tea\n\nMatcha is powdered green tea whisked with hot water.\n")
    os.replace(tmp, docs / "tea.md")
    qtbot.waitUntil(lambda: "Matcha" in search(qtbot, window, "powdered tea whisked")[0], timeout=WAIT_MS)

    with (docs / "otters.txt").open("a") as fh:  # edited in place
        fh.write("\nOtters also keep a favourite stone in a pouch under the arm.\n")
    qtbot.waitUntil(lambda: "stone" in search(qtbot, window, "otter favourite stone pouch")[0], timeout=WAIT_MS)

    os.rename(docs / "volcano.md", docs / "iceland.md")
    (docs / "solar.md").unlink()
    qtbot.waitUntil(lambda: names(window) == {"tea.md", "otters.txt", "iceland.md"}, timeout=WAIT_MS)
    assert row_for(window, "solar.md") is None and row_for(window, "volcano.md") is None
    assert search(qtbot, window, "ash cloud grounded flights")[0].startswith("iceland.md")


def test_a_burst_and_a_slow_write(qtbot, window, tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    watch_from_menu(qtbot, window, folder, monkeypatch)
    jobs: list[object] = []
    window.services.import_started.connect(jobs.append)
    for i in range(500):
        (folder / f"note{i:03}.txt").write_text(f"Note {i}: its code word is heron{i}.\n")
    qtbot.waitUntil(lambda: len(names(window)) == 500, timeout=WAIT_MS * 3)
    assert len(jobs) <= 2, [j.label for j in jobs]  # one batch (two if the first event beat the rest)
    assert search(qtbot, window, "heron321")[0].startswith("note321.txt")

    slow = folder / "slow.txt"
    fh = slow.open("w")
    fh.write("The first half of a file that is still being written. ")
    fh.flush()
    qtbot.wait(300)  # keeps writing, slower than an event burst
    fh.write("The second half names the kingfisher.\n")
    fh.close()
    qtbot.waitUntil(lambda: "slow.txt" in names(window), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "kingfisher" in search(qtbot, window, "kingfisher second half")[0], timeout=WAIT_MS)


def test_cli_watch_add_while_the_window_runs_and_restart_catch_up(qtbot, data_dir: Path, docs: Path) -> None:
    services = Services(data_dir)
    window = open_window(qtbot, services)
    try:
        env = {**os.environ, "FOOTNOTE_DATA_DIR": str(data_dir)}
        out = subprocess.run([sys.executable, "-m", "desktop.main", "watch", "add", str(docs)], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "window imports it" in out.stdout
        qtbot.waitUntil(lambda: all_ready(window, ["solar.md", "tea.md", "volcano.md"]), timeout=WAIT_MS)
        qtbot.waitUntil(lambda: window.library.watched_label.isVisible(), timeout=WAIT_MS)
    finally:
        window.close()
        assert services.shutdown(10.0)

    # Footnote is closed: the folder changes meanwhile.
    (docs / "tea.md").unlink()
    (docs / "herons.md").write_text("# Herons\n\nGrey herons stand still for a long time before they strike.\n")

    services = Services(data_dir)
    window = open_window(qtbot, services)
    try:
        qtbot.waitUntil(lambda: names(window) == {"solar.md", "volcano.md", "herons.md"}, timeout=WAIT_MS)
    finally:
        window.close()
        assert services.shutdown(10.0)
