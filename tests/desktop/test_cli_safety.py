"""Hostile input can't hurt the CLI: names and text cannot forge output, URLs keep no secrets,
and an unexpected error is one line plus a traceback in the log. Real subprocesses, real files,
a real HTTP server."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.desktop.test_cli import footnote

# Anything a terminal would act on: ESC, BEL, CR, other C0 but tab/newline, DEL, C1, bidi controls.
_RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _hostile_files(folder: Path) -> dict[str, Path]:
    folder.mkdir()
    names = {
        "newline": "tea\nimported  forged (99 chunks)",
        "csi": "clear\x1b[2J\x1b[31mred",
        "osc": "title\x1b]0;owned\x07link\x1b]8;;https:evil.example\x1b\\here",
        "bidi": "invoice\u202etxt.exe",
        "cr": "report\roverwritten",
        "c1": "c1\x9b31mcsi",
    }
    files = {}
    for key, stem in names.items():
        path = folder / f"{stem}.txt"
        path.write_text(f"The {key} document talks about otters and their dens.\x1b[5m blinking\x1b[0m", encoding="utf-8")
        files[key] = path
    return files


def test_names_and_text_cannot_forge_or_drive_the_terminal(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = _hostile_files(tmp_path / "docs")
    runs = {
        "ingest": footnote(data, "ingest", str(tmp_path / "docs")),
        "list": footnote(data, "list"),
        "search": footnote(data, "search", "otters dens", "--top-k", "6"),
        "remove": footnote(data, "remove", str(files["csi"])),
    }
    for name, proc in runs.items():
        assert proc.returncode == 0, (name, proc.stderr)
        for stream in (proc.stdout, proc.stderr):
            assert not _RAW.search(stream), (name, stream)
    ingest = runs["ingest"].stdout.splitlines()
    # One line per file and a summary: the newline in a name could not add a line of its own.
    assert len(ingest) == len(files) + 1
    assert [line for line in ingest if line.startswith("imported  forged")] == []
    assert any("tea\\nimported  forged (99 chunks)" in line for line in ingest)
    assert any("invoice\\u202etxt.exe" in line for line in ingest)
    assert len(runs["list"].stdout.splitlines()) == len(files)
    search = runs["search"].stdout.splitlines()
    assert len(search) == 2 * len(files)  # a result line and its snippet, each one line
    assert all("\\x1b[5m blinking" in line for line in search[1::2])
    assert "clear\\x1b[2J\\x1b[31mred" in runs["remove"].stdout


def test_json_output_is_valid_and_keeps_the_exact_names(tmp_path: Path) -> None:
    data = tmp_path / "data"
    files = _hostile_files(tmp_path / "docs")
    procs = [footnote(data, "ingest", str(tmp_path / "docs"), "--json"), footnote(data, "list", "--json"),
             footnote(data, "search", "otters", "--top-k", "6", "--json")]
    objs: list[Any] = []
    for proc in procs:
        assert proc.returncode == 0, proc.stderr
        assert not _RAW.search(proc.stdout)  # C1 and bidi controls are \u escapes, not raw characters
        [line] = proc.stdout.splitlines()
        objs.append(json.loads(line))
    assert {d["source"] for d in objs[0]["imported"]} == {str(p) for p in files.values()}
    assert {d["source"] for d in objs[1]["documents"]} == {str(p) for p in files.values()}
    assert {r["title"] for r in objs[2]["results"]} == {p.stem for p in files.values()}


def test_a_link_with_a_password_and_a_token_leaves_no_trace(tmp_path: Path, http_server: Any) -> None:
    data = tmp_path / "data"
    http_server.route("/members", "<html><head><title>Members</title></head><body><p>Otters hold paws while"
                                  " sleeping.</p></body></html>")
    url = http_server.url("/members?token=t0k3n-value&page=1").replace("http://", "http://alice:hunter2@")
    proc = footnote(data, "ingest", url, "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert "imported  Members" in proc.stdout
    [page] = [r for r in http_server.requests if r.path.startswith("/members")]
    assert page.path == "/members?token=t0k3n-value&page=1" and page.headers["authorization"].startswith("Basic ")
    listed = footnote(data, "list", "--json")
    [doc] = json.loads(listed.stdout)["documents"]
    assert doc["source"] == http_server.url("/members?token=REDACTED&page=1")
    searched = footnote(data, "search", "otters sleeping", "--json", "-v")
    log_text = (data / "footnote.log").read_text(encoding="utf-8")
    assert "fetched url=" in log_text  # the import was logged, without its secrets
    for text in (proc.stdout, proc.stderr, listed.stdout, searched.stdout, searched.stderr, log_text):
        assert "hunter2" not in text and "t0k3n" not in text and "alice" not in text


def test_an_unexpected_error_is_one_line_and_a_logged_traceback(tmp_path: Path) -> None:
    # A real one: a queries file that is not UTF-8 is not a case the CLI handles (it raises
    # UnicodeDecodeError). If that becomes a clear error one day, trigger this with another bug.
    data = tmp_path / "data"
    queries = tmp_path / "queries.txt"
    queries.write_bytes(b"\xff\xfe\x00 not text")
    proc = footnote(data, "search", "--queries-file", str(queries))
    assert proc.returncode == 1
    assert proc.stderr == f"footnote: unexpected error (UnicodeDecodeError); details in {data / 'footnote.log'}\n"
    assert proc.stdout == ""
    log_text = (data / "footnote.log").read_text(encoding="utf-8")
    assert "unexpected error command=search" in log_text
    assert "Traceback (most recent call last)" in log_text and "UnicodeDecodeError" in log_text
    as_json = footnote(data, "search", "--queries-file", str(queries), "--json")
    assert as_json.returncode == 1
    assert json.loads(as_json.stdout) == {"error": "unexpected error (UnicodeDecodeError)"}
    assert as_json.stderr.count("\n") == 1 and "Traceback" not in as_json.stderr
