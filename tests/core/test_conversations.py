"""Conversations in SQLite: create, list, rename, delete, continue; citation snapshots."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.conversations import Citation, ConversationNotFound, ConversationStore


def cite(n: int) -> Citation:
    return Citation(n, f"chunk-{n}", "doc-1", "/tmp/report.pdf", "Report", "Results", 3, f"passage {n}")


def test_create_list_rename_delete(tmp_path: Path) -> None:
    with ConversationStore(tmp_path) as store:
        a = store.create()
        b = store.create("Named")
        store.add_message(a.id, "user", "What is in the report about results and more words than sixty characters allow here?")
        ids = [c.id for c in store.list()]
        assert set(ids) == {a.id, b.id} and ids[0] == a.id  # most recently active first
        got = store.get(a.id)
        assert got.title.startswith("What is in the report") and got.title.endswith("…") and len(got.title) <= 60
        assert got.message_count == 1
        store.rename(a.id, "Results")
        assert store.get(a.id).title == "Results"
        store.delete(b.id)
        assert [c.id for c in store.list()] == [a.id]
        with pytest.raises(ConversationNotFound, match=f"conversation {b.id}: no such conversation"):
            store.get(b.id)
        with pytest.raises(ConversationNotFound):
            store.add_message(b.id, "user", "x")
        with pytest.raises(ConversationNotFound):
            store.rename(b.id, "x")
        with pytest.raises(ConversationNotFound):
            store.delete(b.id)


def test_messages_keep_citation_snapshots_across_reopen(tmp_path: Path) -> None:
    with ConversationStore(tmp_path) as store:
        c = store.create()
        store.add_message(c.id, "user", "q1")
        store.add_message(c.id, "assistant", "a1 [1][2]", [cite(1), cite(2)], backend="local")
    with ConversationStore(tmp_path) as store:  # a new process would see the same
        msgs = store.messages(c.id)
    assert [m.role for m in msgs] == ["user", "assistant"]
    assert msgs[1].backend == "local"
    assert msgs[1].citations == [cite(1), cite(2)]
    assert msgs[1].citations[0].page == 3 and msgs[1].citations[0].text == "passage 1"


def test_recent_turns_pairs_questions_and_answers(tmp_path: Path) -> None:
    with ConversationStore(tmp_path) as store:
        c = store.create()
        for i in range(5):
            store.add_message(c.id, "user", f"q{i}")
            store.add_message(c.id, "assistant", f"a{i}")
        store.add_message(c.id, "user", "unanswered")
        assert store.recent_turns(c.id, 2) == [("q3", "a3"), ("q4", "a4")]
        assert store.recent_turns(c.id, 0) == []


def test_delete_removes_messages(tmp_path: Path) -> None:
    with ConversationStore(tmp_path) as store:
        c = store.create()
        store.add_message(c.id, "user", "q")
        store.delete(c.id)
        n = store._db.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert n == 0
