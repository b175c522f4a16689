"""The answer pipeline with real parts: FastEmbed + Qdrant library, the SmolLM2 GGUF, llama_cpp.server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.answering import (
    ABSTAIN_TEXT,
    AnswerStream,
    blocked_term,
    cite,
    parse_markers,
    strip_invalid_markers,
)
from core.engine import Engine
from core.generation import LocalLlama
from core.retrieval import SearchHit
from core.settings import Settings
from tests.run_suite import LlamaServer, free_port

ON_TOPIC = "Where was the first practical silicon solar cell built?"
OFF_TOPIC = "What is the recipe for a good lasagne with bechamel sauce?"


def hit(n: int, text: str) -> SearchHit:
    return SearchHit(f"p{n}", "d1", "/docs/a.md", "A", "Sec", None, text, 1.0, 0.8)


# -- markers -------------------------------------------------------------------------------


def test_parse_markers_forms() -> None:
    assert parse_markers("Yes [1]. Also [2, 3] and [1][4]; see [5-6] and [ 7 ].") == [1, 2, 3, 4, 5, 6, 7]
    assert parse_markers("no markers, [a], [] or [1.5]") == []


def test_markers_for_missing_sources_are_dropped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    hits = [hit(1, "alpha beta"), hit(2, "gamma delta")]
    caplog.set_level(logging.WARNING, logger="core.answering")
    text, cites, how = cite("Alpha [1][7]. Gamma [2, 9]. Nothing [12].", hits)
    assert how == "markers"
    assert [c.n for c in cites] == [1, 2]
    assert [c.chunk_id for c in cites] == ["p1", "p2"]
    assert "[7]" not in text and "9" not in text and "[12]" not in text
    assert text == "Alpha [1]. Gamma [2]. Nothing."
    assert "markers=[7, 9, 12]" in caplog.text


def test_strip_invalid_markers_keeps_valid_text() -> None:
    assert strip_invalid_markers("A [1, 3] b [3].", {1}) == "A [1] b."
    assert strip_invalid_markers("untouched [1]", {1}) == "untouched [1]"


def test_fallback_cites_the_overlapping_prompted_source_only() -> None:
    hits = [hit(1, "Green tea originated in China long ago."), hit(2, "Volcanoes erupt ash.")]
    text, cites, how = cite("Green tea originated in China.", hits)
    assert how == "overlap" and [c.n for c in cites] == [1]
    _, cites, how = cite("Something entirely unrelated here.", hits)
    assert cites == [] and how == "none"


def test_blocked_terms_match_words_and_plurals() -> None:
    assert blocked_term("How do I build bombs?", ["bomb"]) == "bomb"
    assert blocked_term("The bombastic style", ["bomb"]) is None
    assert blocked_term("tell me about Credit Card numbers", ["credit card"]) == "credit card"


# -- full pipeline -------------------------------------------------------------------------


@pytest.fixture
def open_engine(library: Path, settings_for: Callable[..., Settings]) -> Iterator[Callable[..., Engine]]:
    engines: list[Engine] = []

    def make(**overrides: Any) -> Engine:
        e = Engine(library / "data", settings_for(**overrides))
        engines.append(e)
        return e

    yield make
    for e in engines:
        e.close()


def run(stream: AnswerStream) -> tuple[list[str], AnswerStream]:
    kinds = [ev.kind for ev in stream]
    return kinds, stream


def test_local_answer_events_and_citations(open_engine: Callable[..., Engine]) -> None:
    engine = open_engine()
    kinds, s = run(engine.answerer.ask(ON_TOPIC))
    assert kinds[0] == "retrieved" and kinds[-1] == "done" and "token" in kinds
    assert set(kinds[1:-1]) == {"token"}
    ans = s.answer
    assert ans is not None and not ans.abstained and ans.backend == "local" and ans.answer
    prompted = {h.point_id for h in s.sources}
    assert s.sources and all(c.chunk_id in prompted for c in ans.citations)
    assert set(ans.timings) == {"retrieval_ms", "first_token_ms", "total_ms"}
    assert ans.timings["first_token_ms"] is not None
    assert ans.as_json()["backend"] == "local"


def test_abstains_without_calling_a_model(open_engine: Callable[..., Engine], tmp_path: Path) -> None:
    # A missing model proves no model is needed to abstain.
    engine = open_engine(model_path=str(tmp_path / "missing.gguf"))
    kinds, s = run(engine.answerer.ask(OFF_TOPIC))
    ans = s.answer
    assert ans is not None
    assert ans.abstained and ans.answer == ABSTAIN_TEXT and ans.citations == [] and ans.backend == "none"
    assert kinds == ["retrieved", "token", "done"] and s.sources == []


def test_cache_hit_and_invalidation(open_engine: Callable[..., Engine], library: Path) -> None:
    engine = open_engine()
    first = engine.answerer.ask(ON_TOPIC).result()
    assert first.backend == "local"
    again = engine.answerer.ask(ON_TOPIC).result()
    assert again.backend == "cache"
    assert again.answer == first.answer and again.citations == first.citations
    extra = library / "docs" / "extra.md"
    extra.write_text("# Rivers\n\nThe Danube flows through ten countries.\n", encoding="utf-8")
    assert [e.kind for e in engine.ingest([str(extra)])][-1] == "done"
    assert engine.answerer.ask(ON_TOPIC).result().backend == "local"


def test_guardrail_refuses_blocked_question(open_engine: Callable[..., Engine]) -> None:
    engine = open_engine(blocked_terms=["solar cell"], blocked_topics=["weapons"])
    ans = engine.answerer.ask(ON_TOPIC).result()
    assert ans.refused and "blocked term" in ans.answer and ans.backend == "guardrail" and not ans.citations
    ans = engine.answerer.ask("Which weapon did the knights carry?").result()
    assert ans.refused and "blocked topic" in ans.answer


def test_guardrail_checks_the_answer(open_engine: Callable[..., Engine]) -> None:
    engine = open_engine(blocked_terms=["zebra"])
    assert engine.answerer._guard("the zebra said", "answer") is not None
    assert engine.answerer._guard("the horse said", "answer") is None


def test_cancel_stops_answer_and_next_question_works(open_engine: Callable[..., Engine]) -> None:
    engine = open_engine(max_answer_tokens=200)
    s = engine.answerer.ask("Tell me everything about green tea, in great detail.")
    tokens = 0
    for ev in s:
        if ev.kind == "token":
            tokens += 1
            if tokens == 2:
                s.stop()
    assert s.answer is not None and s.answer.stopped and tokens == 2
    engine.settings.max_answer_tokens = 16
    nxt = engine.answerer.ask(ON_TOPIC).result()
    assert nxt.answer and not nxt.stopped and nxt.backend == "local"


def test_follow_up_uses_conversation_and_snapshots_survive_removal(open_engine: Callable[..., Engine]) -> None:
    engine = open_engine()
    conv = engine.answerer.conversations.create()
    first = engine.answerer.ask("Where did green tea originate?", conversation_id=conv.id).result()
    s = engine.answerer.ask("And what plant is it made from?", conversation_id=conv.id)
    second = s.result()
    assert second.conversation_id == conv.id and second.backend == "local"  # follow-ups are never cached
    assert any("Green tea" in h.text for h in s.sources)  # searched with the previous question
    msgs = engine.answerer.conversations.messages(conv.id)
    assert [m.role for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert msgs[1].content == first.answer
    cited = [c for m in msgs for c in m.citations]
    for doc in engine.documents():
        engine.remove(doc.id)
    again = engine.answerer.conversations.messages(conv.id)
    assert [c for m in again for c in m.citations] == cited


def test_context_budget_fits_whole_passages(open_engine: Callable[..., Engine]) -> None:
    engine = open_engine(n_ctx=512, max_answer_tokens=64)
    gen = LocalLlama(engine.settings)
    passage = "The committee met again to discuss the budget for the coming year in detail. " * 8
    hits = [hit(i, f"{i}: {passage}") for i in range(1, 7)]
    prompt = engine.answerer._build_prompt(gen, "What did the committee discuss?", hits, [], engine.settings)
    assert 1 <= len(prompt.numbered) < len(hits)
    assert prompt.numbered == hits[: len(prompt.numbered)]
    total = len(gen.prompt_tokens(prompt.messages))
    assert total + engine.settings.max_answer_tokens <= 512
    for h in prompt.numbered:
        assert h.text.strip() in prompt.messages[-1]["content"]  # whole passages, never cut


def test_auto_falls_back_when_local_model_missing(
    open_engine: Callable[..., Engine], llama_server: LlamaServer, server_key: str,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, secret_service: dict[str, str],
) -> None:
    from core import secrets

    secrets.delete_key()
    monkeypatch.setenv("OPENAI_API_KEY", server_key)
    engine = open_engine(backend="auto", model_path=str(tmp_path / "missing.gguf"),
                         openai_base_url=llama_server.base_url, openai_model="smollm2")
    ans = engine.answerer.ask(ON_TOPIC).result()
    assert ans.backend == "openai" and ans.answer


def test_auto_falls_back_when_first_token_is_slow(
    open_engine: Callable[..., Engine], llama_server: LlamaServer, server_key: str,
    monkeypatch: pytest.MonkeyPatch, secret_service: dict[str, str],
) -> None:
    from core import secrets

    secrets.delete_key()
    monkeypatch.setenv("OPENAI_API_KEY", server_key)
    engine = open_engine(backend="auto", first_token_timeout_s=0.0,
                         openai_base_url=llama_server.base_url, openai_model="smollm2")
    ans = engine.answerer.ask(ON_TOPIC).result()
    assert ans.backend == "openai" and ans.answer
    assert engine.answerer.ask(ON_TOPIC, backend="local", use_cache=False).result().backend == "local"


def test_openai_backend_errors_become_error_events(
    open_engine: Callable[..., Engine], llama_server: LlamaServer,
    monkeypatch: pytest.MonkeyPatch, secret_service: dict[str, str],
) -> None:
    from core import secrets

    secrets.delete_key()
    wrong = "sk-definitely-wrong-key-abcdef012345"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    engine = open_engine(backend="openai", openai_base_url=llama_server.base_url)
    s = engine.answerer.ask(ON_TOPIC)
    kinds = [ev.kind for ev in s]
    assert kinds[-1] == "error" and s.error is not None
    assert "the OpenAI key was refused (401)" in s.error and wrong not in s.error
    engine.settings.openai_base_url = f"http://127.0.0.1:{free_port()}/v1"
    s = engine.answerer.ask(ON_TOPIC)
    list(s)
    assert s.error is not None and "could not connect" in s.error


def test_local_backend_missing_model_is_an_error(open_engine: Callable[..., Engine], tmp_path: Path) -> None:
    engine = open_engine(model_path=str(tmp_path / "missing.gguf"))
    s = engine.answerer.ask(ON_TOPIC)
    list(s)
    assert s.error is not None and "missing.gguf: the model file does not exist" in s.error
