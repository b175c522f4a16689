"""Finished answers, keyed so that a changed question, setting, model or library never gets an old one."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CACHE_FILE = "answer_cache.sqlite3"

class AnswerCache:
    """Finished answers keyed by question, settings fingerprint, backend, model, scope and library version."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(data_dir / CACHE_FILE, check_same_thread=False, timeout=10.0)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, library_version INTEGER NOT NULL, "
                "value TEXT NOT NULL, created REAL NOT NULL)"
            )
            self._db.commit()

    @staticmethod
    def key(question: str, fingerprint: dict[str, Any], backend: str, top_k: int, library_version: int,
            model: str = "", scope: Sequence[str] = ()) -> str:
        """``model`` is the answering model's identity (its file's sha256), so a changed default or
        a swapped file never serves an old model's answer; ``scope`` the selected documents."""
        norm = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
        blob = json.dumps([norm, fingerprint, backend, top_k, library_version, model, sorted(scope)],
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, library_version: int, value: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("DELETE FROM answers WHERE library_version != ?", (library_version,))
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, library_version, value, created) VALUES (?, ?, ?, ?)",
                (key, library_version, json.dumps(value, ensure_ascii=False), time.time()),
            )
            self._db.commit()

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM answers")
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()
