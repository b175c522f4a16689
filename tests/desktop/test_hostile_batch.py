"""One batch of hostile files and pages, imported by the real CLI: every bad item fails or is
skipped with a reason that names it, within its limits; the good items are searchable; the batch
exits 2 (some items failed) and prints no traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.hostile_corpus import CASES, DEEP_PAGE, GOOD_BEES, build
from tests.httpserver import HttpServer

ROOT = Path(__file__).resolve().parents[2]


def footnote(data: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desktop.main", "--data-dir", str(data), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def test_a_hostile_batch_costs_only_the_bad_items(tmp_path: Path, http_server: HttpServer) -> None:
    docs = build(tmp_path / "docs", tmp_path / "outside", scale=0.1)
    data = tmp_path / "data"
    data.mkdir()
    # Tighter limits than the defaults, so that a reader that runs away is stopped quickly here too.
    (data / "settings.json").write_text(json.dumps({"parse_timeout_s": 60, "parse_memory_mb": 1024}))
    http_server.route("/deep", body=DEEP_PAGE)
    http_server.route("/zip", body=b"PK\x03\x04" + bytes(200), content_type="text/html")
    proc = footnote(data, "--json", "ingest", str(docs), http_server.url("/deep"), http_server.url("/zip"))
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    report = json.loads(proc.stdout)
    outcome: dict[str, tuple[str, str]] = {}
    for row in report["imported"]:
        outcome[row["source"]] = ("imported", "")
    for row in report["skipped"]:
        outcome[row["source"]] = ("skipped", row["reason"])
    for row in report["failed"]:
        outcome[row["source"]] = ("failed", row["error"])
    by_name = {Path(src).name: value for src, value in outcome.items() if not src.startswith("http")}
    for case in CASES:
        assert case.name in by_name, f"{case.name}: no outcome reported"
        kind, reason = by_name[case.name]
        allowed = ("imported", "failed") if case.outcome == "imported-or-failed" else (case.outcome,)
        assert kind in allowed, f"{case.name}: {kind} ({reason})"
        if kind != "imported":
            assert case.name in reason, f"the reason does not name the item: {reason}"
            if case.reason_words:
                assert any(w in reason.lower() for w in case.reason_words), f"{case.name}: {reason}"
    # The link outside the folder was not followed.
    assert not any("private-notes" in src for src in outcome)
    pages = {src: value for src, value in outcome.items() if src.startswith("http")}
    assert pages[http_server.url("/deep")] == ("imported", "")
    kind, reason = pages[http_server.url("/zip")]
    assert kind == "failed" and reason.startswith(http_server.url("/zip"))

    found = footnote(data, "--json", "search", "waggle dance inside the hive")
    assert found.returncode == 0, found.stderr
    top = json.loads(found.stdout)["results"][0]
    assert Path(top["source"]).name == "good-bees.txt" and GOOD_BEES[:40] in top["text"]
    glaciers = json.loads(footnote(data, "--json", "search", "glaciers carve fjords").stdout)["results"][0]
    assert glaciers["source"] == http_server.url("/deep")
    # Skipped items leave no row in the library; failed ones are listed with their reason.
    listed = {Path(d["source"]).name for d in json.loads(footnote(data, "--json", "list").stdout)["documents"]}
    assert "picture.png" not in listed and "outside-link.txt" not in listed
    assert "good-tides.md" in listed and "bomb.docx" in listed
