"""What an answer is, as it streams and when it is finished.

``Answerer.ask()`` returns an ``AnswerStream``: an iterator of ``AnswerEvent`` (``retrieved``, maybe
``status``, then ``token`` many times, then ``done`` or ``error``) that also carries the sources and,
once done, the finished ``Answer``, the way PrivateGPT's ``CompletionGen`` carries the stream and its
sources as one object.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from core.conversations import Citation
from core.errors import FootnoteError
from core.retrieval import SearchHit

ABSTAIN_TEXT = "I couldn't find this in your documents."

EventKind = Literal["retrieved", "status", "token", "done", "error"]
StopReason = Literal["user", "repetition", "length"]


@dataclass
class Sentence:
    """One sentence of an answer: where it is in the text, which sources support it."""

    text: str
    start: int
    end: int
    citations: list[int] = field(default_factory=list)
    supported: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"text": self.text, "start": self.start, "end": self.end, "citations": list(self.citations),
                "supported": self.supported}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Sentence:
        return cls(str(d["text"]), int(d["start"]), int(d["end"]), [int(n) for n in d.get("citations", [])],
                   bool(d.get("supported", True)))


@dataclass
class Answer:
    """A finished answer; ``as_json()`` is the CLI's ``--json`` object.

    ``sentences`` cover the answer text; a sentence with ``supported=False`` is one no passage
    supports, and it carries no citation. ``suggestions`` are the closest passages of an
    abstention ("you may want to read").
    """

    question: str
    answer: str
    abstained: bool
    backend: str
    citations: list[Citation] = field(default_factory=list)
    timings: dict[str, float | None] = field(default_factory=dict)
    conversation_id: str | None = None
    stopped: bool = False
    refused: bool = False
    stop_reason: StopReason | None = None
    sentences: list[Sentence] = field(default_factory=list)
    suggestions: list[Citation] = field(default_factory=list)
    scope: list[str] = field(default_factory=list)
    mode: Literal["question", "summary"] = "question"
    model: str = ""
    #: The local model's P("the sources state the answer"), the mean of ``answerable_checks``, when
    #: it was asked (None otherwise).
    answerable: float | None = None
    #: Each check behind ``answerable``: over the first passage, the first two, ... and all of them.
    answerable_checks: list[float] = field(default_factory=list)
    #: Share of the answer's tokens the local model gave less than even odds, when it wrote one.
    unsure: float | None = None
    #: Why an abstention abstained: relevance, no_passages, answerability, not_found, restates_question,
    #: nothing_supported, unsupported or unsure (None for an answer).
    abstain_reason: str | None = None
    #: The answer an abstention withheld after the model wrote it (a rule judged it unfounded). Not
    #: shown and not in ``as_json()``: kept so that the answer benchmark can replay the rules for
    #: other thresholds without writing every answer again.
    withheld: Answer | None = None

    @property
    def unsupported(self) -> list[str]:
        return [s.text for s in self.sentences if not s.supported]

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "backend": self.backend,
            "model": self.model,
            "mode": self.mode,
            "stopped": self.stopped,
            "stop_reason": self.stop_reason,
            "citations": [_citation_json(c) for c in self.citations],
            "sentences": [s.as_dict() for s in self.sentences],
            "unsupported": self.unsupported,
            "suggestions": [_citation_json(c) for c in self.suggestions],
            "scope": list(self.scope),
            "answerable": None if self.answerable is None else round(self.answerable, 4),
            "answerable_checks": [round(p, 4) for p in self.answerable_checks],
            "unsure": None if self.unsure is None else round(self.unsure, 4),
            "abstain_reason": self.abstain_reason,
            "timings": {k: self.timings.get(k) for k in ("retrieval_ms", "first_token_ms", "total_ms")},
        }


def _citation_json(c: Citation) -> dict[str, Any]:
    return {"n": c.n, "document_id": c.document_id, "source": c.source, "title": c.title, "section": c.section,
            "page": c.page, "text": c.text}


@dataclass(frozen=True)
class AnswerEvent:
    """One step of an answer. ``text`` is the token for ``token``, the line to show for ``status``
    and the reason for ``error``."""

    kind: EventKind
    text: str = ""
    chunks: tuple[SearchHit, ...] = ()
    answer: Answer | None = None

    @property
    def citations(self) -> list[Citation]:
        return self.answer.citations if self.answer else []


class AnswerStream(Iterator[AnswerEvent]):
    """The event stream of one question plus what it produced: sources, the answer, the error."""

    def __init__(self, question: str, events: Iterator[AnswerEvent], cancel: threading.Event) -> None:
        self.question = question
        self.cancel = cancel
        self.sources: list[SearchHit] = []
        self.answer: Answer | None = None
        self.error: str | None = None
        self._events = events

    def __iter__(self) -> AnswerStream:
        return self

    def __next__(self) -> AnswerEvent:
        ev = next(self._events)
        if ev.kind == "retrieved":
            self.sources = list(ev.chunks)
        elif ev.kind == "done":
            self.answer = ev.answer
        elif ev.kind == "error":
            self.error = ev.text
        return ev

    def stop(self) -> None:
        """Ask the stream to end; it does so within one token."""
        self.cancel.set()

    def close(self) -> None:
        close = getattr(self._events, "close", None)
        if close is not None:
            close()

    def result(self) -> Answer:
        """Consume the rest of the stream; the answer, or FootnoteError with the reason."""
        for _ in self:
            pass
        if self.answer is None:
            raise FootnoteError(self.error or "the answer ended without a result")
        return self.answer
