"""Cited answers: retrieve passages, number them in the prompt, stream the model's answer, and map
its ``[n]`` markers back to the passages.

``Answerer.ask()`` returns an ``AnswerStream``: an iterator of ``AnswerEvent`` (``retrieved``, then
``token`` many times, then ``done`` or ``error``) that also carries the sources and, once done, the
finished ``Answer``, the way PrivateGPT's ``CompletionGen`` carries the stream and its sources as
one object. Stop is a ``threading.Event`` the generators check between tokens.

Why the pieces are the way they are:

* **Abstain before generating.** When the best dense (cosine) score of the retrieved passages is
  below ``settings.min_relevance`` nothing relevant exists, and a small model given irrelevant text
  will still "answer". So we say so plainly, cite nothing and never call a model. The default
  threshold was measured on the dev set by ``tests/bench/answer_eval.py``.
* **Context budget with the model's own tokenizer.** Passages are added in rank order while they
  fit in ``n_ctx`` minus the answer's room minus the question and recent turns; a passage that does
  not fit is skipped and smaller later ones may still go in. Nothing is cut mid-passage.
* **Markers.** ``[1]``, ``[2, 3]``, ``[1][2]`` and ``[1-3]`` are understood. A number that names no
  prompted source is removed from the answer text and logged, never returned as a citation.
* **Fallback citations.** Small models (the bundled 135M one especially) often answer without any
  marker. Then, and only then, we cite the prompted passage that shares the most content words
  with the answer (at least ``MIN_OVERLAP`` of the answer's content words, and never a source that
  was not in the prompt). This is logged as ``citation_fallback=overlap``.
* **Backends.** ``local`` uses the GGUF; ``openai`` an OpenAI-compatible server; ``auto`` uses the
  local model and falls back to OpenAI when the model is missing, fails to load, or does not
  produce its first token within ``first_token_timeout_s``. Every answer records its backend
  (``local``, ``openai``, ``cache``, ``none`` for abstentions and ``guardrail`` for refusals).
* **Cache.** The same question, settings fingerprint, backend and library version give the stored
  answer at once (backend ``cache``). The library version is part of the key, so any import or
  removal invalidates it; stale rows are pruned on write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from core.conversations import Citation, ConversationStore
from core.errors import FootnoteError
from core.generation import (
    ChatMessage,
    FirstTokenTimeout,
    GenerationError,
    Generator,
    LocalLlama,
    LocalModelUnavailable,
    OpenAICompatible,
    StreamStats,
)
from core.retrieval import SearchHit
from core.settings import Settings

log = logging.getLogger(__name__)

ABSTAIN_TEXT = "I couldn't find this in your documents."
BACKENDS = ("local", "auto", "openai")
CACHE_FILE = "answer_cache.sqlite3"
#: Share of the answer's content words a passage must contain to be cited without a marker.
MIN_OVERLAP = 0.5
#: Tokens kept free for the chat template's own wrapping of each message.
TEMPLATE_OVERHEAD = 48
HISTORY_TURNS = 3
HISTORY_CHARS = 1200
TOPIC_SIMILARITY = 0.6

SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources you are given. "
    "After each claim, cite the source it comes from with its number in square brackets, like [1] or [2]. "
    "If the sources do not contain the answer, say that you could not find it in the documents. "
    "Answer briefly."
)

EventKind = Literal["retrieved", "token", "done", "error"]


class EngineLike(Protocol):
    """The part of ``core.engine.Engine`` answering needs."""

    settings: Settings
    data_dir: Path

    def search(self, query: str, top_k: int | None = None, mode: str = "hybrid") -> list[SearchHit]: ...

    def library_version(self) -> int: ...


@dataclass
class Answer:
    """A finished answer; ``as_json()`` is the CLI's ``--json`` object."""

    question: str
    answer: str
    abstained: bool
    backend: str
    citations: list[Citation] = field(default_factory=list)
    timings: dict[str, float | None] = field(default_factory=dict)
    conversation_id: str | None = None
    stopped: bool = False
    refused: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "backend": self.backend,
            "citations": [
                {
                    "n": c.n,
                    "document_id": c.document_id,
                    "source": c.source,
                    "title": c.title,
                    "section": c.section,
                    "page": c.page,
                    "text": c.text,
                }
                for c in self.citations
            ],
            "timings": {k: self.timings.get(k) for k in ("retrieval_ms", "first_token_ms", "total_ms")},
        }


@dataclass(frozen=True)
class AnswerEvent:
    """One step of an answer. ``text`` is the token for ``token`` and the reason for ``error``."""

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


# ---------------------------------------------------------------------------------------------
# Markers and citations
# ---------------------------------------------------------------------------------------------

_MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:[,;]|-|–|and)\s*\d+)*)\s*\]")
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "a an the of and or to in on at by for from with as is are was were be been being it its this that these "
    "those which who whom whose what when where why how not no yes do does did has have had i you he she we they "
    "them his her their our your my me us there here than then so such can could would should will may might "
    "also into about over under after before between during sources source documents document answer".split()
)


def parse_markers(text: str) -> list[int]:
    """Source numbers cited in ``text``, in order of first appearance, without repeats."""
    seen: list[int] = []
    for m in _MARKER.finditer(text):
        for n in _expand(m.group(1)):
            if n not in seen:
                seen.append(n)
    return seen


def _expand(group: str) -> list[int]:
    out: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and)\s*", group):
        part = part.strip()
        if not part:
            continue
        bounds = re.split(r"\s*[-–]\s*", part)
        if len(bounds) == 2 and bounds[0].isdigit() and bounds[1].isdigit():
            lo, hi = int(bounds[0]), int(bounds[1])
            if 0 < hi - lo < 20:
                out.extend(range(lo, hi + 1))
                continue
        if part.isdigit():
            out.append(int(part))
    return out


def strip_invalid_markers(text: str, valid: set[int]) -> str:
    """Remove numbers that name no prompted source; an emptied bracket disappears entirely."""

    def fix(m: re.Match[str]) -> str:
        nums = _expand(m.group(1))
        keep = [n for n in nums if n in valid]
        if len(keep) == len(nums):
            return m.group(0)
        if not keep:
            return ""
        return "[" + ", ".join(str(n) for n in keep) + "]"

    cleaned = _MARKER.sub(fix, text)
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned).strip() if cleaned != text else text


def _content_words(text: str) -> set[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    return {w for w in _WORD.findall(text) if w not in _STOP and (len(w) > 2 or w.isdigit())}


def snapshot(n: int, hit: SearchHit) -> Citation:
    return Citation(
        n=n,
        chunk_id=hit.point_id,
        document_id=hit.document_id,
        source=hit.source,
        title=hit.title,
        section=hit.section,
        page=hit.page,
        text=hit.text,
    )


def cite(answer: str, numbered: Sequence[SearchHit]) -> tuple[str, list[Citation], str]:
    """Map the answer's markers to the prompted passages.

    Returns (cleaned answer, citations sorted by number, how: ``markers``, ``overlap`` or ``none``).
    """
    valid = set(range(1, len(numbered) + 1))
    markers = parse_markers(answer)
    bad = [n for n in markers if n not in valid]
    if bad:
        log.warning("citation markers dropped markers=%s sources=%d", bad, len(numbered))
        answer = strip_invalid_markers(answer, valid)
    good = sorted(n for n in markers if n in valid)
    if good:
        return answer, [snapshot(n, numbered[n - 1]) for n in good], "markers"
    words = _content_words(answer)
    if not words or not numbered:
        return answer, [], "none"
    best_n, best = 0, 0.0
    for i, hit in enumerate(numbered, start=1):
        share = len(words & _content_words(hit.text)) / len(words)
        if share > best:
            best_n, best = i, share
    if best_n and best >= MIN_OVERLAP:
        log.info("citation_fallback=overlap source=%d share=%.2f", best_n, best)
        return answer, [snapshot(best_n, numbered[best_n - 1])], "overlap"
    return answer, [], "none"


# ---------------------------------------------------------------------------------------------
# Guardrails
# ---------------------------------------------------------------------------------------------


def _phrase_in(phrase: str, text: str) -> bool:
    words = [re.escape(_singular(w)) for w in _WORD.findall(phrase.casefold())]
    if not words:
        return False
    pattern = r"\b" + r"\W+".join(w + r"(?:e?s)?" for w in words) + r"\b"
    return re.search(pattern, text.casefold()) is not None


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("es") and word[-3] in "sxz":
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def blocked_term(text: str, terms: Sequence[str]) -> str | None:
    """The first blocked term that appears as a word or phrase (plurals included)."""
    for term in terms:
        if term.strip() and _phrase_in(term, text):
            return term.strip()
    return None


# ---------------------------------------------------------------------------------------------
# Answer cache
# ---------------------------------------------------------------------------------------------


class AnswerCache:
    """Finished answers keyed by question, settings fingerprint, backend and library version."""

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
    def key(question: str, fingerprint: dict[str, Any], backend: str, top_k: int, library_version: int) -> str:
        norm = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
        blob = json.dumps([norm, fingerprint, backend, top_k, library_version], sort_keys=True, default=str)
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


def _hit_to_dict(h: SearchHit) -> dict[str, Any]:
    return asdict(h)


def _hit_from_dict(d: dict[str, Any]) -> SearchHit:
    return SearchHit(**d)


# ---------------------------------------------------------------------------------------------
# The answerer
# ---------------------------------------------------------------------------------------------


@dataclass
class _Prompt:
    messages: list[ChatMessage]
    numbered: list[SearchHit]
    prompt_tokens: int


class Answerer:
    """Answers questions over one engine's library. Safe to call from one worker at a time."""

    def __init__(self, engine: EngineLike) -> None:
        self.engine = engine
        self.conversations = ConversationStore(engine.data_dir)
        self.cache = AnswerCache(engine.data_dir)
        self._topic_vectors: dict[str, Any] = {}

    def close(self) -> None:
        self.conversations.close()
        self.cache.close()

    # -- public ------------------------------------------------------------------------------

    def ask(
        self,
        question: str,
        conversation_id: str | None = None,
        backend: str | None = None,
        top_k: int | None = None,
        cancel: threading.Event | None = None,
        use_cache: bool = True,
    ) -> AnswerStream:
        cancel = cancel if cancel is not None else threading.Event()
        events = self._run(question, conversation_id, backend, top_k, cancel, use_cache)
        return AnswerStream(question, events, cancel)

    # -- pipeline ----------------------------------------------------------------------------

    def _run(
        self,
        question: str,
        conversation_id: str | None,
        backend: str | None,
        top_k: int | None,
        cancel: threading.Event,
        use_cache: bool,
    ) -> Iterator[AnswerEvent]:
        t0 = time.monotonic()
        settings = self.engine.settings
        question = question.strip()
        policy = (backend or settings.backend or "local").strip().lower()
        k = top_k or settings.top_k
        if not question:
            yield AnswerEvent("error", "the question is empty")
            return
        if policy not in BACKENDS:
            yield AnswerEvent("error", f"unknown backend '{policy}': use local, auto or openai")
            return

        def ms(since: float | None = None) -> float:
            return round((time.monotonic() - (t0 if since is None else since)) * 1000, 1)

        def finish(ans: Answer) -> AnswerEvent:
            ans.conversation_id = conversation_id
            if conversation_id is not None:
                self._persist(conversation_id, question, ans)
            return AnswerEvent("done", ans.answer, answer=ans)

        history: list[tuple[str, str]] = []
        if conversation_id is not None:
            try:
                history = self.conversations.recent_turns(conversation_id, HISTORY_TURNS)
            except FootnoteError as exc:
                yield AnswerEvent("error", str(exc))
                return

        refusal = self._guard(question, "question")
        if refusal:
            yield AnswerEvent("retrieved")
            yield AnswerEvent("token", refusal)
            yield finish(Answer(question, refusal, False, "guardrail", [], _timings(0.0, None, ms()), refused=True))
            return

        # The cache keys on the library version, so read it before searching.
        cache_key: str | None = None
        if use_cache and not history:
            try:
                version = self.engine.library_version()
                cache_key = AnswerCache.key(question, settings.fingerprint(), policy, k, version)
                cached = self.cache.get(cache_key)
            except sqlite3.Error as exc:
                log.warning("answer cache unreadable error=%s", exc)
                cached = None
            # The fingerprint does not cover the guardrail lists, so a cached answer is re-checked.
            if cached is not None and self._guard(str(cached["answer"]), "answer") is None:
                log.info("answer cache hit question_chars=%d", len(question))
                yield AnswerEvent("retrieved", chunks=tuple(_hit_from_dict(d) for d in cached["sources"]))
                yield AnswerEvent("token", cached["answer"])
                yield finish(
                    Answer(
                        question,
                        cached["answer"],
                        bool(cached["abstained"]),
                        "cache",
                        [Citation.from_dict(c) for c in cached["citations"]],
                        _timings(0.0, ms(), ms()),
                    )
                )
                return

        # Retrieval. A follow-up is searched together with the previous question, so that
        # "and when did it end?" still finds the passages about "it".
        query = f"{history[-1][0]} {question}" if history else question
        t_r = time.monotonic()
        try:
            hits = self.engine.search(query, top_k=k)
        except FootnoteError as exc:
            yield AnswerEvent("error", str(exc))
            return
        retrieval_ms = ms(t_r)
        best = max((h.dense_score for h in hits if h.dense_score is not None), default=None)
        if best is None or best < settings.min_relevance:
            log.info("abstain best_dense=%s min_relevance=%.3f hits=%d", best, settings.min_relevance, len(hits))
            yield AnswerEvent("retrieved")
            yield AnswerEvent("token", ABSTAIN_TEXT)
            ans = Answer(question, ABSTAIN_TEXT, True, "none", [], _timings(retrieval_ms, None, ms()))
            if cache_key is not None:
                self._store(cache_key, ans, [])
            yield finish(ans)
            return

        # Backend and prompt.
        local = LocalLlama(settings)
        local_problem: str | None = None
        gen: Generator
        if policy == "openai":
            gen = OpenAICompatible(settings)
        else:
            try:
                local.load()
                gen = local
            except LocalModelUnavailable as exc:
                if policy == "local":
                    yield AnswerEvent("error", str(exc))
                    return
                local_problem = str(exc)
                log.warning("auto fallback reason=local_unavailable error=%s", exc)
                gen = OpenAICompatible(settings)
        try:
            prompt = self._build_prompt(gen, question, hits, history, settings)
        except GenerationError as exc:
            yield AnswerEvent("error", str(exc))
            return
        yield AnswerEvent("retrieved", chunks=tuple(prompt.numbered))

        # Generation.
        pieces: list[str] = []
        first_token_ms: float | None = None
        stats = StreamStats()
        used = gen.name

        def pump(g: Generator, deadline: float | None) -> Iterator[AnswerEvent]:
            nonlocal first_token_ms
            for piece in g.stream(prompt.messages, max_tokens=settings.max_answer_tokens,
                                  temperature=settings.temperature, cancel=cancel,
                                  first_token_deadline=deadline, stats=stats):
                if first_token_ms is None:
                    first_token_ms = ms()
                pieces.append(piece)
                yield AnswerEvent("token", piece)

        try:
            deadline = None
            if policy == "auto" and gen is local:
                deadline = time.monotonic() + settings.first_token_timeout_s
            try:
                yield from pump(gen, deadline)
            except FirstTokenTimeout as exc:
                if not (policy == "auto" and gen is local) or pieces:
                    raise
                local_problem = str(exc)
                log.warning("auto fallback reason=first_token_timeout timeout_s=%s", settings.first_token_timeout_s)
                remote = OpenAICompatible(settings)
                used = remote.name
                stats = StreamStats()
                yield from pump(remote, None)
        except GenerationError as exc:
            reason = str(exc)
            if local_problem and used == "openai":
                reason = f"the local model was not used ({local_problem}) and the OpenAI fallback failed: {exc}"
            yield AnswerEvent("error", reason)
            return

        raw = "".join(pieces).strip()
        text, citations, how = cite(raw, prompt.numbered)
        stopped = stats.stopped or cancel.is_set()
        refusal = self._guard(text, "answer")
        if refusal:
            yield finish(Answer(question, refusal, False, used, [], _timings(retrieval_ms, first_token_ms, ms()),
                                refused=True))
            return
        if not text and not stopped:
            text = ABSTAIN_TEXT
        ans = Answer(question, text, False, used, citations, _timings(retrieval_ms, first_token_ms, ms()),
                     stopped=stopped)
        log.info(
            "answered backend=%s prompt_tokens=%d sources=%d citations=%d cited_by=%s stopped=%s total_ms=%s",
            used, prompt.prompt_tokens, len(prompt.numbered), len(citations), how, stopped, ans.timings["total_ms"],
        )
        if cache_key is not None and not stopped:
            self._store(cache_key, ans, prompt.numbered)
        yield finish(ans)

    # -- helpers -----------------------------------------------------------------------------

    def _build_prompt(
        self,
        gen: Generator,
        question: str,
        hits: list[SearchHit],
        history: list[tuple[str, str]],
        settings: Settings,
    ) -> _Prompt:
        """Fit as many top passages as the context allows, counting with the model's tokenizer."""
        n_ctx = gen.context_size()
        tail = f"Question: {question}\nAnswer using the sources above and cite them like [1]."
        budget = n_ctx - settings.max_answer_tokens - TEMPLATE_OVERHEAD
        budget -= gen.count_tokens(SYSTEM_PROMPT) + gen.count_tokens(tail) + gen.count_tokens("Sources:\n")
        if budget <= 0:
            raise GenerationError(
                f"the context window ({n_ctx} tokens) leaves no room for sources; raise n_ctx or lower max_answer_tokens"
            )
        turns: list[ChatMessage] = []
        for q, a in reversed(history):
            pair = [{"role": "user", "content": q}, {"role": "assistant", "content": a[:HISTORY_CHARS]}]
            cost = sum(gen.count_tokens(m["content"]) + 8 for m in pair)
            if cost > budget // 3:
                break
            turns = pair + turns
            budget -= cost
        numbered: list[SearchHit] = []
        blocks: list[str] = []
        for hit in hits:
            block = _source_block(len(numbered) + 1, hit)
            cost = gen.count_tokens(block) + 2
            if cost > budget:
                log.info("source skipped reason=context_budget tokens=%d left=%d", cost, budget)
                continue
            numbered.append(hit)
            blocks.append(block)
            budget -= cost
        if not numbered:
            raise GenerationError("no retrieved passage fits in the context window; raise n_ctx")
        user = "Sources:\n" + "\n\n".join(blocks) + "\n\n" + tail
        messages: list[ChatMessage] = [{"role": "system", "content": SYSTEM_PROMPT}, *turns,
                                       {"role": "user", "content": user}]
        used = n_ctx - settings.max_answer_tokens - TEMPLATE_OVERHEAD - budget
        return _Prompt(messages, numbered, used)

    def _guard(self, text: str, where: str) -> str | None:
        settings = self.engine.settings
        term = blocked_term(text, settings.blocked_terms)
        if term:
            log.info("guardrail hit where=%s kind=term", where)
            return f"I can't help with this: the {where} contains the blocked term \"{term}\"."
        topic = self._blocked_topic(text, settings.blocked_topics)
        if topic:
            log.info("guardrail hit where=%s kind=topic", where)
            return f"I can't help with this: the {where} is about the blocked topic \"{topic}\"."
        return None

    def _blocked_topic(self, text: str, topics: Sequence[str]) -> str | None:
        """A topic matches by its words, or by meaning (embedding cosine) when the engine can embed."""
        topics = [t.strip() for t in topics if t.strip()]
        if not topics:
            return None
        for topic in topics:
            if _phrase_in(topic, text):
                return topic
        embedder = getattr(self.engine, "embedder", None)
        if embedder is None:
            return None
        import numpy as np

        q = np.asarray(embedder.embed_query(text[:2000]), dtype=np.float32)
        qn = float(np.linalg.norm(q)) or 1.0
        for topic in topics:
            vec = self._topic_vectors.get(topic)
            if vec is None:
                vec = np.asarray(embedder.embed_query(topic), dtype=np.float32)
                self._topic_vectors[topic] = vec
            sim = float(np.dot(q, vec) / (qn * (float(np.linalg.norm(vec)) or 1.0)))
            if sim >= TOPIC_SIMILARITY:
                return topic
        return None

    def _persist(self, conversation_id: str, question: str, ans: Answer) -> None:
        try:
            self.conversations.add_message(conversation_id, "user", question)
            self.conversations.add_message(
                conversation_id, "assistant", ans.answer, ans.citations, ans.backend, ans.abstained
            )
        except (FootnoteError, sqlite3.Error) as exc:
            log.warning("conversation not saved id=%s error=%s", conversation_id, exc)

    def _store(self, key: str, ans: Answer, sources: Sequence[SearchHit]) -> None:
        try:
            self.cache.put(
                key,
                self.engine.library_version(),
                {
                    "answer": ans.answer,
                    "abstained": ans.abstained,
                    "backend": ans.backend,
                    "citations": [c.as_dict() for c in ans.citations],
                    "sources": [_hit_to_dict(h) for h in sources],
                },
            )
        except sqlite3.Error as exc:
            log.warning("answer cache not written error=%s", exc)


def _source_block(n: int, hit: SearchHit) -> str:
    head = hit.title or hit.source
    if hit.section and hit.section != hit.title:
        head += f" — {hit.section}"
    if hit.page is not None:
        head += f", p. {hit.page}"
    return f"[{n}] {head}\n{hit.text.strip()}"


def _timings(retrieval_ms: float, first_token_ms: float | None, total_ms: float) -> dict[str, float | None]:
    return {"retrieval_ms": retrieval_ms, "first_token_ms": first_token_ms, "total_ms": total_ms}
