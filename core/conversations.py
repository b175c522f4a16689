"""Conversations and their messages, in SQLite in the data folder.

Each answer stores a snapshot of every passage it cites (chunk id, source, title, section, page
and text), not just a pointer into the index: documents get replaced or removed, and an old answer
must stay readable and checkable after that. SQLite in WAL mode lets the CLI and the window read
the same file; one connection per store, guarded by a lock, because answers are produced on worker
threads.
"""

from __future__ import annotations

import builtins
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.errors import FootnoteError

log = logging.getLogger(__name__)

DB_FILE = "conversations.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    content TEXT NOT NULL,
    backend TEXT NOT NULL DEFAULT '',
    abstained INTEGER NOT NULL DEFAULT 0,
    citations TEXT NOT NULL DEFAULT '[]',
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages(conversation_id, id);
"""


@dataclass(frozen=True)
class Citation:
    """A cited passage, frozen at answer time so it outlives the document it came from."""

    n: int
    chunk_id: str
    document_id: str
    source: str
    title: str
    section: str
    page: int | None
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Citation:
        return cls(
            n=int(d["n"]),
            chunk_id=str(d.get("chunk_id", "")),
            document_id=str(d.get("document_id", "")),
            source=str(d.get("source", "")),
            title=str(d.get("title", "")),
            section=str(d.get("section", "")),
            page=None if d.get("page") is None else int(d["page"]),
            text=str(d.get("text", "")),
        )


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: str
    role: str
    content: str
    created: float
    backend: str = ""
    abstained: bool = False
    citations: list[Citation] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def unsupported(self) -> list[str]:
        """Sentences of this answer that no passage supported."""
        return [str(t) for t in self.meta.get("unsupported", [])]

    @property
    def stop_reason(self) -> str | None:
        value = self.meta.get("stop_reason")
        return None if value is None else str(value)

    @property
    def suggestions(self) -> list[Citation]:
        """For an abstention: the closest passages, offered as "you may want to read"."""
        return [Citation.from_dict(d) for d in self.meta.get("suggestions", [])]


@dataclass(frozen=True)
class Conversation:
    id: str
    title: str
    created: float
    updated: float
    message_count: int = 0


class ConversationNotFound(FootnoteError):
    def __init__(self, conversation_id: str) -> None:
        super().__init__(f"conversation {conversation_id}: no such conversation")
        self.conversation_id = conversation_id


class ConversationStore:
    """Create, list, rename, delete and continue conversations."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self.path = data_dir / DB_FILE
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=10.0)
        self._db.row_factory = sqlite3.Row
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            cols = {r[1] for r in self._db.execute("PRAGMA table_info(messages)")}
            if "meta" not in cols:  # libraries made before answers carried grounding details
                self._db.execute("ALTER TABLE messages ADD COLUMN meta TEXT NOT NULL DEFAULT '{}'")
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> ConversationStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- conversations -------------------------------------------------------------------

    def create(self, title: str = "") -> Conversation:
        now = time.time()
        cid = uuid.uuid4().hex[:12]
        with self._lock:
            self._db.execute(
                "INSERT INTO conversations (id, title, created, updated) VALUES (?, ?, ?, ?)",
                (cid, title.strip(), now, now),
            )
            self._db.commit()
        log.info("conversation created id=%s", cid)
        return Conversation(cid, title.strip(), now, now, 0)

    def list(self) -> list[Conversation]:
        """Most recently active first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.title, c.created, c.updated, COUNT(m.id) AS n FROM conversations c "
                "LEFT JOIN messages m ON m.conversation_id = c.id GROUP BY c.id ORDER BY c.updated DESC, c.id"
            ).fetchall()
        return [Conversation(r["id"], r["title"], r["created"], r["updated"], r["n"]) for r in rows]

    def get(self, conversation_id: str) -> Conversation:
        with self._lock:
            r = self._db.execute(
                "SELECT c.id, c.title, c.created, c.updated, COUNT(m.id) AS n FROM conversations c "
                "LEFT JOIN messages m ON m.conversation_id = c.id WHERE c.id = ? GROUP BY c.id",
                (conversation_id,),
            ).fetchone()
        if r is None:
            raise ConversationNotFound(conversation_id)
        return Conversation(r["id"], r["title"], r["created"], r["updated"], r["n"])

    def rename(self, conversation_id: str, title: str) -> None:
        with self._lock:
            cur = self._db.execute(
                "UPDATE conversations SET title = ?, updated = ? WHERE id = ?",
                (title.strip(), time.time(), conversation_id),
            )
            self._db.commit()
        if cur.rowcount == 0:
            raise ConversationNotFound(conversation_id)

    def delete(self, conversation_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM messages WHERE conversation_id = ?", (conversation_id,))
            cur = self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
            self._db.commit()
        if cur.rowcount == 0:
            raise ConversationNotFound(conversation_id)
        log.info("conversation deleted id=%s", conversation_id)

    # -- messages ------------------------------------------------------------------------

    def add_message(
        self,
        conversation_id: str,
        role: str,
        content: str,
        citations: Iterable[Citation] = (),
        backend: str = "",
        abstained: bool = False,
        meta: dict[str, Any] | None = None,
    ) -> Message:
        """``meta`` holds an answer's grounding details (unsupported sentences, stop reason,
        suggestions) so a reopened conversation shows what the live answer showed."""
        now = time.time()
        cites = list(citations)
        payload = json.dumps([c.as_dict() for c in cites], ensure_ascii=False)
        extra = dict(meta or {})
        meta_json = json.dumps(extra, ensure_ascii=False, default=str)
        with self._lock:
            exists = self._db.execute("SELECT 1 FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if exists is None:
                raise ConversationNotFound(conversation_id)
            cur = self._db.execute(
                "INSERT INTO messages (conversation_id, role, content, backend, abstained, citations, meta, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (conversation_id, role, content, backend, int(abstained), payload, meta_json, now),
            )
            # A conversation is named after its first question unless the user renamed it.
            if role == "user":
                self._db.execute(
                    "UPDATE conversations SET title = ? WHERE id = ? AND title = ''",
                    (_title_from(content), conversation_id),
                )
            self._db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
            self._db.commit()
        msg_id = cur.lastrowid
        assert msg_id is not None
        return Message(msg_id, conversation_id, role, content, now, backend, abstained, cites, extra)

    def messages(self, conversation_id: str) -> builtins.list[Message]:
        self.get(conversation_id)
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,)
            ).fetchall()
        return [
            Message(
                r["id"],
                r["conversation_id"],
                r["role"],
                r["content"],
                r["created"],
                r["backend"],
                bool(r["abstained"]),
                [Citation.from_dict(d) for d in json.loads(r["citations"])],
                json.loads(r["meta"] or "{}"),
            )
            for r in rows
        ]

    def recent_turns(self, conversation_id: str, max_turns: int = 3) -> builtins.list[tuple[str, str]]:
        """The last question/answer pairs, oldest first, for a follow-up's prompt."""
        msgs = self.messages(conversation_id)
        turns: builtins.list[tuple[str, str]] = []
        pending: str | None = None
        for m in msgs:
            if m.role == "user":
                pending = m.content
            elif pending is not None:
                turns.append((pending, m.content))
                pending = None
        return turns[-max_turns:] if max_turns > 0 else []


def _title_from(question: str, limit: int = 60) -> str:
    text = " ".join(question.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
