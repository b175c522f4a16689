"""``footnote watch`` as a real subprocess: add imports the folder, sync catches up with changes
made in between, list shows the folder, remove stops watching (and removes documents if asked);
``watch run`` follows a change as it happens."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def footnote(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desktop.main", "--data-dir", str(data), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)


def jlines(proc: subprocess.CompletedProcess[str]) -> list[Any]:
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def listed(data: Path) -> set[str]:
    return {Path(d["source"]).name for d in jlines(footnote(data, "list", "--json"))[0]["documents"]}


def test_watch_add_sync_list_remove(tmp_path: Path) -> None:
    data, folder = tmp_path / "data", tmp_path / "notes"
    folder.mkdir()
    (folder / "kiwi.txt").write_text("The kiwi is a flightless bird native to New Zealand.\n")
    (folder / "~$kiwi.docx").write_bytes(b"owner file of an open Word document")
    proc = footnote(data, "watch", "add", str(folder))
    assert proc.returncode == 0, proc.stderr
    assert "1 imported" in proc.stdout
    assert listed(data) == {"kiwi.txt"}

    os.rename(folder / "kiwi.txt", folder / "birds.txt")
    (folder / "tea.txt").write_text("Oolong tea is partly oxidised.\n")
    proc = footnote(data, "watch", "sync", "--json")
    assert proc.returncode == 0, proc.stderr
    out = jlines(proc)
    assert {(o["event"], Path(o["source"]).name) for o in out if "event" in o} == {
        ("done", "birds.txt"), ("done", "tea.txt"), ("removed", "kiwi.txt")}
    assert out[-1] == {"folder": str(folder.resolve()), "imported": 2, "unchanged": 0, "removed": 1, "failed": 0}
    assert listed(data) == {"birds.txt", "tea.txt"}

    shown = jlines(footnote(data, "watch", "list", "--json"))[0]["folders"]
    assert shown == [{"path": str(folder.resolve()), "files": 2, "present": True}]
    proc = footnote(data, "watch", "remove", str(folder))
    assert proc.returncode == 0 and "documents stay" in proc.stdout
    assert listed(data) == {"birds.txt", "tea.txt"}
    proc = footnote(data, "watch", "remove", str(folder))
    assert proc.returncode == 1 and "not a watched folder" in proc.stderr
    footnote(data, "watch", "add", str(folder))
    proc = footnote(data, "watch", "remove", str(folder), "--remove-documents")
    assert proc.returncode == 0 and listed(data) == set()
    proc = footnote(data, "watch", "add", str(tmp_path / "nowhere"))
    assert proc.returncode == 1 and "nowhere: cannot watch it (no such folder)" in proc.stderr


def test_watch_run_follows_a_change(tmp_path: Path) -> None:
    data, folder = tmp_path / "data", tmp_path / "notes"
    folder.mkdir()
    footnote(data, "watch", "add", str(folder))
    run = subprocess.Popen([sys.executable, "-m", "desktop.main", "--data-dir", str(data), "watch", "run"], cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert run.stdout is not None
        assert "watching" in run.stdout.readline()
        assert "0 imported" in run.stdout.readline()  # the catch-up of the (empty) folder
        (folder / "otter.txt").write_text("Sea otters hold hands while they sleep.\n")
        assert "imported  otter" in run.stdout.readline()
    finally:
        # SIGTERM, not SIGINT: a shell that starts the tests in the background starts them with SIGINT
        # ignored, and Python then never turns SIGINT into KeyboardInterrupt.
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(30)
        except subprocess.TimeoutExpired:
            run.kill()
            _out, err = run.communicate(timeout=30)
            raise AssertionError(f"watch run did not stop on SIGTERM within 30 s; its stderr: {err[-3000:]}") from None
    assert listed(data) == {"otter.txt"}
