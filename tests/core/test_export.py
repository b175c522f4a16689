"""Exporting a conversation: every cited source listed once, with its page, markers renumbered to it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from core.conversations import Citation, ConversationStore
from core.export import as_json, as_markdown

ROOT = Path(__file__).resolve().parents[2]


def _cite(n: int, chunk: str, title: str, page: int | None, text: str, source: str) -> Citation:
    return Citation(n=n, chunk_id=chunk, document_id="d-" + title, source=source, title=title, section="",
                    page=page, text=text)


def _three_turns(data: Path) -> str:
    budget = _cite(1, "c1", "Budget 2026", 4, "The budget for 2026 is 1.2 million euros.", "/docs/budget.pdf")
    staff = _cite(2, "c2", "Budget 2026", 7, "Twelve people joined the team in spring.", "/docs/budget.pdf")
    tides = _cite(1, "c3", "Tides", None, "Spring tides happen twice a month.", "https://example.org/tides")
    with ConversationStore(data) as store:
        conv = store.create("Planning")
        store.add_message(conv.id, "user", "What is the budget?")
        store.add_message(conv.id, "assistant", "The budget is 1.2 million euros [1].", citations=[budget])
        store.add_message(conv.id, "user", "And the staff?")
        store.add_message(conv.id, "assistant", "Twelve people joined [2], within the budget [1].",
                          citations=[budget, staff])
        store.add_message(conv.id, "user", "When are spring tides?")
        store.add_message(conv.id, "assistant", "Twice a month [1].", citations=[tides])
        return conv.id


def test_markdown_export_lists_each_cited_source_once_with_its_page(tmp_path: Path) -> None:
    conv_id = _three_turns(tmp_path)
    with ConversationStore(tmp_path) as store:
        md = as_markdown(store.get(conv_id), store.messages(conv_id))
    sources = md.split("## Sources", 1)[1]
    entries = re.findall(r"^(\d+)\. \*\*(.+?)\*\*(.*)$", sources, re.M)
    assert [(n, t, rest.strip()) for n, t, rest in entries] == [
        ("1", "Budget 2026", ", page 4"), ("2", "Budget 2026", ", page 7"), ("3", "Tides", "")]
    assert sources.count("1.2 million euros") == 1 and "<https://example.org/tides>" in sources
    # Markers follow the conversation-wide numbering: the third answer's [1] is the tides source, now [3].
    assert "Twelve people joined [2], within the budget [1]." in md
    assert "Twice a month [3]." in md
    assert md.index("## What is the budget?") < md.index("## And the staff?") < md.index("## When are spring tides?")


def test_json_export_keeps_turns_and_sources(tmp_path: Path) -> None:
    conv_id = _three_turns(tmp_path)
    with ConversationStore(tmp_path) as store:
        data = as_json(store.get(conv_id), store.messages(conv_id))
    assert [t["role"] for t in data["turns"]] == ["user", "assistant"] * 3
    assert data["turns"][5]["sources"] == [3] and data["sources"][2]["source"] == "https://example.org/tides"
    assert [s["page"] for s in data["sources"]] == [4, 7, None]


def test_export_from_the_command_line_to_a_file(tmp_path: Path) -> None:
    conv_id = _three_turns(tmp_path)
    out = tmp_path / "planning.md"
    base = [sys.executable, "-m", "desktop.main", "--data-dir", str(tmp_path), "conversations", "export", conv_id]
    proc = subprocess.run([*base, "--output", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert out.read_text(encoding="utf-8").startswith("# Planning")
    proc = subprocess.run([*base, "--format", "json"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and json.loads(proc.stdout)["title"] == "Planning"
    missing = subprocess.run([*base[:-1], "nope"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 1 and "no such conversation" in missing.stderr


def test_document_text_cannot_inject_markup(tmp_path: Path) -> None:
    evil = _cite(1, "c9", "Evil <b>page</b>", 1, "<img src=http://x/y.png> # not a heading", "/docs/evil.html")
    with ConversationStore(tmp_path) as store:
        conv = store.create("x")
        store.add_message(conv.id, "user", "q")
        store.add_message(conv.id, "assistant", "<script>alert(1)</script> answer [1]", citations=[evil])
        md = as_markdown(store.get(conv.id), store.messages(conv.id))
    assert "<img" not in md and "<script>" not in md and "<b>" not in md
    assert "&lt;script&gt;" in md
