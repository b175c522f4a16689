"""The CLI contract, run as a real subprocess the way scripts and evaluations use it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def footnote(data: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desktop.main", "--data-dir", str(data), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=180, input=stdin)


def jline(proc: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(proc.stdout)


def test_ingest_search_list_remove_json(tmp_path: Path, http_server: Any) -> None:
    data = tmp_path / "data"
    (tmp_path / "docs").mkdir()
    good = tmp_path / "docs" / "kiwi.txt"
    good.write_text("The kiwi is a flightless bird native to New Zealand.")
    bad = tmp_path / "docs" / "bad.pdf"
    bad.write_bytes(b"\x00junk")
    http_server.route("/tea", body="<html><head><title>Tea guide</title></head><body><h1>Oolong</h1>"
                                   "<p>Oolong tea is partially oxidised.</p></body></html>")
    http_server.route("/missing", status=404, body="no")
    proc = footnote(data, "ingest", str(tmp_path / "docs"), http_server.url("/tea"), http_server.url("/missing"),
                    "--json")
    assert proc.returncode == 2, proc.stderr
    out = jline(proc)
    assert set(out) == {"imported", "skipped", "failed"}
    assert {d["title"] for d in out["imported"]} == {"kiwi", "Tea guide"}
    assert all(set(d) == {"document_id", "source", "title", "chunks"} for d in out["imported"])
    assert {f["source"] for f in out["failed"]} == {str(bad), http_server.url("/missing")}
    assert any("404" in f["error"] for f in out["failed"])

    again = jline(footnote(data, "ingest", str(good), "--json"))
    assert again["imported"] == [] and again["skipped"][0]["source"] == str(good)

    res = jline(footnote(data, "search", "flightless bird", "--top-k", "1", "--json"))
    assert res["query"] == "flightless bird"
    [hit] = res["results"]
    assert set(hit) == {"rank", "score", "document_id", "source", "title", "section", "page", "text"}
    assert hit["rank"] == 1 and hit["source"] == str(good)

    qfile = tmp_path / "q.txt"
    qfile.write_text("oxidised tea\n\nNew Zealand bird\n")
    lines = footnote(data, "search", "--queries-file", str(qfile), "--json", "--top-k", "2").stdout.splitlines()
    assert [json.loads(x)["query"] for x in lines] == ["oxidised tea", "New Zealand bird"]
    assert json.loads(lines[0])["results"][0]["title"] == "Tea guide"

    listed = jline(footnote(data, "list", "--json"))["documents"]
    assert {d["status"] for d in listed} == {"ready", "failed"}
    removed = footnote(data, "remove", str(good), "--json")
    assert removed.returncode == 0 and jline(removed)["removed"]["source"] == str(good)
    assert str(good) not in footnote(data, "list").stdout
    gone = footnote(data, "remove", str(good))
    assert gone.returncode == 1 and "no such document" in gone.stderr


def test_ingest_exit_zero_and_human_output(tmp_path: Path) -> None:
    f = tmp_path / "a.md"
    f.write_text("# Title\n\nSome words.")
    proc = footnote(tmp_path / "data", "ingest", str(f))
    assert proc.returncode == 0
    assert "1 imported, 0 unchanged, 0 failed" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_unusable_data_folder_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = footnote(blocker / "library", "list")
    assert proc.returncode == 1
    assert proc.stderr.startswith("footnote: ") and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
