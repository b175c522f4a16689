"""`footnote repair` on a library too damaged to open, run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def footnote(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desktop.main", "--data-dir", str(data), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_a_damaged_registry_is_one_line_and_repair_brings_the_documents_back(tmp_path: Path) -> None:
    data = tmp_path / "data"
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kiwi.txt").write_text("The kiwi is a flightless bird native to New Zealand.", encoding="utf-8")
    (docs / "oolong.txt").write_text("Oolong tea is partially oxidised before it is dried.", encoding="utf-8")
    assert footnote(data, "ingest", str(docs)).returncode == 0
    with (data / "library.sqlite3").open("r+b") as fh:
        fh.write(os.urandom(100))  # the header: SQLite no longer knows the file

    for command in (["list"], ["search", "kiwi"]):
        broken = footnote(data, *command)
        assert broken.returncode == 1
        assert "Traceback" not in broken.stderr
        lines = broken.stderr.strip().splitlines()
        assert len(lines) == 1 and str(data / "library.sqlite3") in lines[0] and "footnote repair" in lines[0]

    fixed = footnote(data, "repair")
    assert fixed.returncode == 0, fixed.stderr
    assert "the library holds 2 documents and 2 passages" in fixed.stdout
    hit = json.loads(footnote(data, "search", "flightless bird", "--json").stdout)["results"][0]
    assert Path(hit["source"]).name == "kiwi.txt"
    again = json.loads(footnote(data, "repair", "--json").stdout)
    assert again["registry"] == "sound" and again["vectors"] == "sound" and again["documents"] == 2
