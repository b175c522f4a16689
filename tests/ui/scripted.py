"""A real engine whose answers are scripted, for outcomes that must not depend on sampling.

Everything but ``ask`` is the real engine: the library, search and chunks are real, so citations
and suggestions point at real passages and clicking one opens the real source viewer. ``Services``
takes it through its ``engine_factory``, as PrivateGPT's ``MockInjector.bind_mock`` swaps a part.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from core.answer import Answer, AnswerEvent, Sentence
from core.answer.citations import snapshot
from core.conversations import Citation
from core.engine import Engine
from core.retrieval import SearchHit

Script = Callable[["ScriptedEngine", str, dict[str, Any]], Iterable[AnswerEvent]]


class ScriptedEngine(Engine):
    def __init__(self, data_dir: Path, script: Callable[[], Script | None]) -> None:
        super().__init__(data_dir)
        self._script = script
        self.asked: list[tuple[str, dict[str, Any]]] = []
        self.gate = threading.Event()  # a script may wait on it, so a test sees the state in between

    def ask(self, question: str, **kwargs: Any) -> Iterator[Any]:
        self.asked.append((question, dict(kwargs)))
        script = self._script()
        if script is None:
            raise AssertionError("no answer scripted for this test")
        return iter(script(self, question, kwargs))

    def hit(self, query: str, source_suffix: str) -> SearchHit:
        """The library's best passage from the named document, found by real search."""
        hits = [h for h in self.search(query, top_k=10) if h.source.endswith(source_suffix)]
        assert hits, f"no passage from {source_suffix} for {query!r}"
        return hits[0]


def sentences(text: str, *parts: tuple[str, list[int], bool]) -> list[Sentence]:
    """``Sentence`` records located in ``text`` (each part must occur in it)."""
    out = []
    at = 0
    for piece, cites, supported in parts:
        start = text.index(piece, at)
        out.append(Sentence(piece, start, start + len(piece), cites, supported))
        at = start + len(piece)
    return out


def answer(question: str, text: str, *, citations: list[Citation] = (), **fields: Any) -> Answer:  # type: ignore[assignment]
    fields.setdefault("abstained", False)
    fields.setdefault("backend", "local")
    fields.setdefault("model", "Scripted model")
    return Answer(question=question, answer=text, citations=list(citations), **fields)


def cite(n: int, hit: SearchHit) -> Citation:
    return snapshot(n, hit)
