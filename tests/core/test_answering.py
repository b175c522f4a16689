"""The answer pipeline with real parts: FastEmbed + Qdrant library, the SmolLM2 GGUF, llama_cpp.server."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.answer.citations import parse_markers, strip_invalid_markers
from core.answer.generator import StreamStats
from core.answer.grounding import ground, is_not_found, split_sentences, support
from core.answer.guardrails import blocked_term
from core.answer.llama_local import LocalLlama
from core.answer.prompt import CHECK_TAIL, build_prompt
from core.answer.repetition import find_repetition
from core.answer.streaming import Pumped, pump
from core.answer.types import ABSTAIN_TEXT, AnswerStream
from core.engine import Engine
from core.retrieval import SearchHit
from core.settings import Settings
from tests.run_suite import LlamaServer, free_port

ON_TOPIC = "Where was the first practical silicon solar cell built?"
OFF_TOPIC = "What is the recipe for a good lasagne with bechamel sauce?"
SOLAR = ("Solar panels convert sunlight into electricity using photovoltaic cells. The first practical silicon "
         "solar cell was built at Bell Labs in 1954 by Chapin, Fuller and Pearson.")
TEA = ("Green tea is made from the leaves of Camellia sinensis that have not been withered or oxidised. "
       "Green tea originated in China, where it has been drunk for thousands of years.")


def hit(n: int, text: str) -> SearchHit:
    return SearchHit(f"p{n}", "d1", "/docs/a.md", "A", "Sec", None, text, 1.0, 0.8)


# -- markers -------------------------------------------------------------------------------


def test_parse_markers_forms() -> None:
    assert parse_markers("Yes [1]. Also [2, 3] and [1][4]; see [5-6] and [ 7 ] and [8 and 9].") == list(range(1, 10))
    assert parse_markers("no markers, [a], [] or [1.5]") == []


def test_strip_invalid_markers_keeps_valid_text() -> None:
    assert strip_invalid_markers("A [1, 3] b [3].", {1}) == "A [1] b."
    assert strip_invalid_markers("untouched [1]", {1}) == "untouched [1]"


# -- grounding -----------------------------------------------------------------------------


def test_sentences_split_at_ends_not_at_abbreviations() -> None:
    text = "Dr. Smith built it in 1954 [1]. It worked, e.g. in labs [2].\n- A list item [1]\nLast one."
    parts = [text[s:e] for s, e in split_sentences(text)]
    assert parts == ["Dr. Smith built it in 1954 [1].", "It worked, e.g. in labs [2].", "- A list item [1]",
                     "Last one."]


def test_a_sentence_no_passage_supports_gets_no_citation() -> None:
    """Invented facts keep no citation, even when the model attached one; supported ones keep theirs."""
    answer = "The first silicon solar cell was built at Bell Labs in 1954 [1]. It was sold to NASA in 1962 [1]."
    g = ground(answer, [SOLAR, TEA], ON_TOPIC)
    assert [s.supported for s in g.sentences] == [True, False]
    assert g.sentences[0].citations == [1] and g.sentences[1].citations == []
    assert g.text == "The first silicon solar cell was built at Bell Labs in 1954 [1]. It was sold to NASA in 1962."
    assert g.cited == [1]


def test_a_fact_cited_to_the_wrong_passage_moves_to_the_right_one() -> None:
    g = ground("Green tea originated in China [1].", [SOLAR, TEA], "Where did green tea originate?")
    assert g.sentences[0].citations == [2] and g.text == "Green tea originated in China [2]."


def test_an_uncited_supported_sentence_gets_its_passage() -> None:
    g = ground("Bell Labs built the first practical silicon solar cell.", [TEA, SOLAR], ON_TOPIC)
    assert g.cited == [2] and g.text.endswith("[2].")


def test_a_wrong_number_is_never_supported() -> None:
    assert support("It was built in 1955.", SOLAR) == 0.0
    assert support("It was built in 1954.", SOLAR) > 0.5


def test_not_found_sentences_make_an_abstention() -> None:
    assert is_not_found("The documents do not say.")
    assert is_not_found("The provided sources do not mention who invented it [1].")
    assert not is_not_found("Green tea is not oxidised [2].")
    g = ground("The documents do not say.", [SOLAR], "Who won the 1998 Tour de France?")
    assert g.not_found and g.cited == []


# -- repetition ----------------------------------------------------------------------------


def test_repetition_patterns() -> None:
    rep = find_repetition("It is good and it is good and it is good and it is good and ")
    assert rep is not None and rep.kind == "loop"
    rep = find_repetition("Tea is from China [1]. Tea grows on hills [2]. Tea is from China [3].")
    assert rep is not None and rep.kind == "sentence"
    assert find_repetition("1. Green tea\n2. Black tea\n3. White tea\n4. Oolong tea\n") is None
    assert find_repetition("The cell was built in 1954 by Chapin, Fuller and Pearson at Bell Labs. ") is None


class Looping:
    """A scripted generator that never stops repeating itself, like a small model in a loop."""

    name = "scripted"

    def __init__(self, phrase: str) -> None:
        self.phrase = phrase
        self.produced = 0
        self.closed = False

    def stream(self, messages: Any, *, max_tokens: int, temperature: float, cancel: Any = None,
               first_token_deadline: Any = None, stats: StreamStats | None = None) -> Iterator[str]:
        try:
            for i in range(max_tokens):
                self.produced += 1
                yield self.phrase.split(" ")[i % len(self.phrase.split(" "))] + " "
            if stats is not None:
                stats.finish_reason = "length"
        finally:
            self.closed = True


def test_repetition_guard_stops_a_looping_stream_long_before_max_tokens() -> None:
    import threading

    gen = Looping("The report says growth was strong in the north.")
    result = Pumped()
    pieces = list(pump(gen, [], max_tokens=2000, temperature=0.0, cancel=threading.Event(),  # type: ignore[arg-type]
                       result=result))
    assert result.stop_reason == "repetition"
    assert gen.closed and gen.produced < 40  # stopped at the second time round, not at 2000 tokens
    assert result.text == "The report says growth was strong in the north."
    assert len(pieces) < gen.produced + 1


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
    assert ans.as_json()["abstained"] is True


def test_off_topic_abstention_offers_the_closest_passages(open_engine: Callable[..., Engine]) -> None:
    engine = open_engine(min_relevance=0.99)  # nothing is relevant enough
    ans = engine.answerer.ask(ON_TOPIC).result()
    assert ans.abstained and ans.citations == [] and ans.suggestions
    assert "silicon solar cell" in ans.suggestions[0].text
    assert ans.as_json()["suggestions"][0]["title"] == ans.suggestions[0].title


def test_low_answerability_is_a_structured_abstention(open_engine: Callable[..., Engine]) -> None:
    """The model's own yes/no (from logits) below the threshold: abstain, with the passages it read."""
    engine = open_engine(answerable_min=1.01)  # no probability reaches it: always abstain
    kinds, s = run(engine.answerer.ask(ON_TOPIC))
    ans = s.answer
    assert ans is not None and ans.abstained and ans.backend == "local" and ans.citations == []
    assert ans.answerable is not None and 0.0 <= ans.answerable <= 1.0
    assert [c.chunk_id for c in ans.suggestions] == [h.point_id for h in s.sources][: len(ans.suggestions)]
    engine.settings.answerable_min = 0.0
    ans = engine.answerer.ask(ON_TOPIC, use_cache=False).result()
    assert not ans.abstained and ans.answerable is not None


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
    assert engine.answerer.guardrails.check("the zebra said", "answer", engine.settings) is not None
    assert engine.answerer.guardrails.check("the horse said", "answer", engine.settings) is None


def test_cancel_stops_answer_and_next_question_works(open_engine: Callable[..., Engine]) -> None:
    engine = open_engine(max_answer_tokens=200)
    s = engine.answerer.ask("Tell me everything about green tea, in great detail.")
    tokens = 0
    for ev in s:
        if ev.kind == "token":
            tokens += 1
            if tokens == 2:
                s.stop()
    assert s.answer is not None and s.answer.stopped and s.answer.stop_reason == "user" and tokens == 2
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
    engine.settings.answer_passages = 6
    prompt = build_prompt(gen, "What did the committee discuss?", hits, [], engine.settings)
    assert 1 <= len(prompt.numbered) < len(hits)
    assert prompt.numbered == hits[: len(prompt.numbered)]
    total = len(gen.prompt_tokens(prompt.messages))
    assert total + engine.settings.max_answer_tokens <= 512
    for h in prompt.numbered:
        assert h.text.strip() in prompt.messages[-1]["content"]  # whole passages, never cut


def test_answerability_is_asked_over_each_passage_prefix_sharing_the_cache(
        open_engine: Callable[..., Engine]) -> None:
    """The check runs over [1], [1-2], ... [all]; in that order each prompt extends the last one's
    passages, so llama.cpp reads every passage once and only the check's last line again."""
    engine = open_engine()
    gen = LocalLlama(engine.settings)
    hits = [hit(1, SOLAR), hit(2, TEA), hit(3, "Wind turbines turn the kinetic energy of moving air into power.")]
    engine.settings.answer_passages = 3
    prompt = build_prompt(gen, ON_TOPIC, hits, [], engine.settings)
    chain = [*prompt.prefix_checks, prompt.check]
    assert len(chain) == 3 and chain[-1] == prompt.check
    for k, messages in enumerate(chain, 1):
        body = messages[-1]["content"]
        assert all((h.text in body) == (i < k) for i, h in enumerate(hits)), f"check {k} holds passages 1..{k}"
    last_line = gen.count_tokens(f"Question: {ON_TOPIC}\n\n{CHECK_TAIL}")
    read = len(gen.prompt_tokens(chain[0]))
    for before, after in zip(chain, chain[1:]):
        a, b = gen.prompt_tokens(before), gen.prompt_tokens(after)
        shared = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        assert len(a) - shared <= last_line + 8, "only the check's last line differs"
        read += len(b) - shared
    assert read <= len(gen.prompt_tokens(prompt.check)) + 2 * (last_line + 8)

    ans = engine.answerer.ask(ON_TOPIC).result()
    sources = engine.answerer.ask(ON_TOPIC, use_cache=False)
    for _ in sources:
        pass
    assert ans.answerable_checks and len(ans.answerable_checks) == len(sources.sources)
    assert ans.answerable == pytest.approx(sum(ans.answerable_checks) / len(ans.answerable_checks))
    assert ans.as_json()["answerable_checks"] == [round(p, 4) for p in ans.answerable_checks]


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


def test_cached_answer_is_not_served_after_the_model_changes(open_engine: Callable[..., Engine]) -> None:
    """The cache keys on the answering model's hash, not on the model_path setting."""
    from core.modelstore import fast_llm_path

    engine = open_engine()
    first = engine.answerer.ask(ON_TOPIC).result()
    assert first.backend == "local"
    assert engine.answerer.ask(ON_TOPIC).result().backend == "cache"
    other = fast_llm_path()
    assert other is not None, "the bundled fast model is part of make setup"
    engine.settings.model_path = str(other)
    changed = engine.answerer.ask(ON_TOPIC).result()
    assert changed.backend == "local" and changed.model == other.name.removesuffix(".gguf")
    engine.settings.model_path = ""
    assert engine.answerer.ask(ON_TOPIC).result().backend == "cache"


def test_scoped_question_only_cites_the_selected_documents(open_engine: Callable[..., Engine]) -> None:
    # The default relevance floor would abstain here (a solar question, the tea note selected):
    # with a selection, the person has said where to look, so the question goes to the model.
    engine = open_engine(answerable_min=0.0)
    tea = next(d for d in engine.documents() if "tea" in d.source)
    s = engine.answerer.ask(ON_TOPIC, document_ids=[tea.id])
    ans = s.result()
    assert s.sources and {h.document_id for h in s.sources} == {tea.id}
    assert all(c.document_id == tea.id for c in ans.citations)
    assert ans.scope == [tea.id]
    unscoped = engine.answerer.ask(ON_TOPIC)
    unscoped.result()
    assert any(h.document_id != tea.id for h in unscoped.sources)


def test_sentence_offsets_point_into_the_returned_text() -> None:
    answer = "\n  Green tea originated in China [1].\n Bell Labs built the first practical silicon solar cell [2].  "
    g = ground(answer, [TEA, SOLAR], "Tell me about tea and solar cells")
    assert g.text == g.text.strip()
    for s in g.sentences:
        assert g.text[s.start:s.end] == s.text


def test_a_leading_marker_does_not_shift_the_sentences() -> None:
    g = ground("[1] Green tea originated in China. Bell Labs built the first silicon solar cell [2].", [TEA, SOLAR])
    assert g.text == "Green tea originated in China [1]. Bell Labs built the first silicon solar cell [2]."
    assert [g.text[s.start:s.end] for s in g.sentences] == [s.text for s in g.sentences]


def test_a_bare_answer_is_cited_and_a_stray_marker_dropped() -> None:
    g = ground("1954", [TEA, SOLAR], ON_TOPIC)
    assert g.cited == [2] and g.text == "1954 [2]"
    g = ground("Bell Labs built it in 1954 [2].  [1]", [TEA, SOLAR], ON_TOPIC)
    assert g.text == "Bell Labs built it in 1954 [2]." and g.cited == [2]


def test_a_marker_used_as_a_noun_leaves_no_dangling_words() -> None:
    """"According to [1], ..." must not read "According to, ..." once the marker moves to the end."""
    g = ground("According to [2], Bell Labs built it in 1954. Green tea comes from China, as stated in [1].",
               [TEA, SOLAR], ON_TOPIC)
    assert g.text == "Bell Labs built it in 1954 [2]. Green tea comes from China [1]."
    assert [g.text[s.start:s.end] for s in g.sentences] == [s.text for s in g.sentences]
    assert ground("In [1] and [2], tea comes from China.", [TEA, SOLAR]).text == "Tea comes from China [1]."
    assert ground("Green tea comes from China, as evidenced by [1].", [TEA, SOLAR]).text == "Green tea comes from China [1]."
    assert ground("In 1954 [2], Bell Labs built it.", [TEA, SOLAR], ON_TOPIC).text == "In 1954, Bell Labs built it [2]."


def test_a_sentence_joining_two_passages_cites_both() -> None:
    """The passage that holds the sentence's key name is cited too, not only the one that holds most
    of its words; a passage that adds no name or number of the sentence is not."""
    sponges = "Some researchers hold that the earliest-diverging animal phylum is Porifera, the sponges."
    fossils = ("Fossils found in lagerstätten dating back to about 515 million years ago show comb jellies "
               "with soft, gelatinous bodies preserved in fine detail.")
    q = "What do some researchers believe is the earliest-diverging animal phylum?"
    g = ground("The earliest-diverging phylum is Porifera, as fossils found in lagerstätten dating back to about "
               "515 million years ago show [2].", [sponges, fossils, TEA], q)
    assert g.cited == [1, 2] and g.sentences[0].supported
    g = ground("Fossils found in lagerstätten date back to about 515 million years ago [2].", [sponges, fossils, TEA], q)
    assert g.cited == [2]


def test_a_fact_from_the_passage_heading_is_supported() -> None:
    """The model reads each passage under its title: a number it took from there is not invented."""
    from core.answer.prompt import source_text

    gaga = SearchHit("p1", "d1", "/docs/sb.md", "Super Bowl 50", "Super Bowl 50", None,
                     "Lady Gaga sang the national anthem, while Marlee Matlin signed it.", 1.0, 0.8)
    q = "Who sang the national anthem?"
    assert not ground("Lady Gaga sang the national anthem at Super Bowl 50 [1].", [gaga.text], q).cited
    g = ground("Lady Gaga sang the national anthem at Super Bowl 50 [1].", [source_text(gaga)], q)
    assert g.cited == [1] and g.sentences[0].supported
    assert not ground("Lady Gaga sang at Super Bowl 51 [1].", [source_text(gaga)], q).cited


def test_an_unsure_answer_with_an_invented_sentence_is_an_abstention(open_engine: Callable[..., Engine]) -> None:
    """Below grounded_min, an answer with a sentence no passage supports becomes an abstention that
    offers the passages; above it, the same answer stands, the invented sentence marked unsupported."""
    from core.answer.answerer import _Run

    engine = open_engine(grounded_min=0.7)
    numbered = [hit(1, SOLAR), hit(2, TEA)]
    gen = LocalLlama(engine.settings)
    text = "The first silicon solar cell was built at Bell Labs in 1954 [1]. It was sold to NASA in 1962 [1]."

    def grounded(p_yes: float) -> Any:
        run = _Run(engine.answerer, ON_TOPIC, None, "local", None, threading.Event(), False, [])
        return run.grounded(Pumped(text=text), gen, numbered, 100, p_yes)

    unsure = grounded(0.6)
    assert unsure.abstained and unsure.answer == ABSTAIN_TEXT and unsure.citations == []
    assert [c.text for c in unsure.suggestions] == [SOLAR, TEA]
    sure = grounded(0.8)
    assert not sure.abstained and [s.supported for s in sure.sentences] == [True, False]
    assert [c.n for c in sure.citations] == [1] and "NASA" in sure.answer
    supported_only = _Run(engine.answerer, ON_TOPIC, None, "local", None, threading.Event(), False,
                          []).grounded(Pumped(text=text.split(" It was")[0]), gen, numbered, 100,
                                       0.6)
    assert not supported_only.abstained, "a fully supported answer stands whatever P(yes)"


def test_an_answer_that_only_restates_the_question_says_nothing() -> None:
    """Words the question already brought prove nothing: such an answer is flagged, a yes/no
    answer and an answer with one new fact are not."""
    q = "This religion emerged in the late 15th century and was a combination of which two faiths?"
    passage = "Sikhism emerged in the Punjab in the late 15th century, drawing on Islam and Hinduism."
    assert ground("This religion emerged in the late 15th century [1].", [passage], q).restates_question
    assert not ground("Sikhism emerged in the late 15th century [1].", [passage], q).restates_question
    assert not ground("Islam and Hinduism [1].", [passage], q).restates_question
    yes_no = "Did this religion emerge in the late 15th century?"
    assert not ground("Yes, this religion emerged in the late 15th century [1].", [passage], yes_no).restates_question
    choice = "Did this religion emerge in the late 15th or the 16th century?"
    assert not ground("It emerged in the late 15th century [1].", [passage], choice).restates_question
    # A new word that starts like one of the question's is still new: the answer, not a restatement.
    word = "What is the Dutch word for the Amazon rainforest?"
    dutch = "In Dutch the Amazon rainforest is called the Amazoneregenwoud."
    assert not ground("The Dutch word for the Amazon rainforest is Amazoneregenwoud [1].", [dutch], word
                      ).restates_question
    assert ground("The Dutch word for the Amazon rainforests is the Amazon rainforest [1].", [dutch], word
                  ).restates_question, "an inflected question word is the question's own"


def test_nothing_supported_only_when_no_sentence_is() -> None:
    invented = "It was sold to NASA in 1962 [1]."
    assert ground(invented, [SOLAR, TEA], ON_TOPIC).nothing_supported
    mixed = ground(f"It was built at Bell Labs in 1954 [1]. {invented}", [SOLAR, TEA], ON_TOPIC)
    assert not mixed.nothing_supported and [s.supported for s in mixed.sentences] == [True, False]
    assert not ground("Yes [1].", [SOLAR], "Was it made of silicon?").nothing_supported
    assert ground("I don't know.", [SOLAR], ON_TOPIC).nothing_supported


def test_an_answer_with_nothing_supported_or_only_the_question_is_an_abstention(
        open_engine: Callable[..., Engine]) -> None:
    """When the model that judged the question wrote an answer no passage supports, or one that
    only repeats the question, the person gets an abstention with the passages, and its reason."""
    from core.answer.answerer import _Run

    engine = open_engine(grounded_min=0.5)  # P(yes) 0.99 is above it: the unsure-and-unsupported rule does not fire
    numbered = [hit(1, SOLAR), hit(2, TEA)]
    gen = LocalLlama(engine.settings)

    def grounded(text: str, p_yes: float | None) -> Any:
        run = _Run(engine.answerer, ON_TOPIC, None, "local", None, threading.Event(), False, [])
        return run.grounded(Pumped(text=text), gen, numbered, 100, p_yes)

    invented = "It was sold to NASA in 1962 [1]."
    sure = grounded(invented, 0.99)
    assert sure.abstained and sure.abstain_reason == "nothing_supported" and sure.citations == []
    assert [c.text for c in sure.suggestions] == [SOLAR, TEA]
    assert sure.as_json()["abstain_reason"] == "nothing_supported"
    # No judgement from the model that wrote it (an OpenAI fallback): shown, visibly unsupported.
    remote = grounded(invented, None)
    assert not remote.abstained and remote.unsupported == ["It was sold to NASA in 1962."]
    assert remote.abstain_reason is None
    echo = grounded("The first practical silicon solar cell was built [1].", None)
    assert echo.abstained and echo.abstain_reason == "restates_question"
    real = grounded("It was built at Bell Labs in 1954 [1].", 0.99)
    assert not real.abstained and [c.n for c in real.citations] == [1]
    engine.settings.grounded_min = 0.0  # a model nobody measured: no grounding rule, the answer is shown
    unmeasured = grounded(invented, 0.99)
    assert not unmeasured.abstained and unmeasured.unsupported == ["It was sold to NASA in 1962."]


def test_an_answer_the_model_had_to_guess_is_an_abstention(open_engine: Callable[..., Engine],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The real stream marks each answer token the model gave less than even odds; mean P(yes) less
    the measured weight times that share, below ``confident_min``, turns the answer into an
    abstention that offers the passages."""
    from core.answer.answerer import _Run
    from core.answer.generator import StreamStats

    engine = open_engine(answerable_min=0.0)
    gen = LocalLlama(engine.settings)
    stats = StreamStats()
    text = "".join(gen.stream([{"role": "user", "content": "Name three colours."}], max_tokens=24,
                              temperature=0.1, stats=stats))
    assert text and len(stats.unsure_tokens) == stats.completion_tokens
    assert stats.unsure_share is not None and 0.0 <= stats.unsure_share <= 1.0

    answered = engine.answerer.ask(ON_TOPIC, use_cache=False).result()
    assert not answered.abstained and answered.unsure is not None, "a model nobody measured: no such rule"
    assert answered.as_json()["unsure"] == round(answered.unsure, 4)
    engine.settings.confident_min = 1.01  # nothing reaches it
    guessed = engine.answerer.ask(ON_TOPIC, use_cache=False).result()
    assert guessed.abstained and guessed.abstain_reason == "unsure" and guessed.answer == ABSTAIN_TEXT
    assert guessed.suggestions and guessed.unsure is not None
    assert guessed.withheld is not None and guessed.withheld.answer and not guessed.withheld.abstained, \
        "the withheld answer is kept for the benchmark's replay"
    assert "withheld" not in guessed.as_json()

    # The rule's arithmetic, with a measured weight: 0.8 - 1.0 * 0.2 reaches 0.5, 0.8 - 1.0 * 0.4 does not.
    engine.settings.confident_min = None
    monkeypatch.setattr(LocalLlama, "confidence_rule", lambda self: (0.5, 1.0))
    run = _Run(engine.answerer, ON_TOPIC, None, "local", None, threading.Event(), False, [])
    assert not run.unsure(gen, 0.8, 0.2) and run.unsure(gen, 0.8, 0.4)
    assert not run.unsure(gen, None, 0.4), "no P(yes) (another backend wrote it): no rule"


def test_the_abstention_threshold_comes_from_the_models_calibration(open_engine: Callable[..., Engine]) -> None:
    """answerable_min unset: the catalog's value for the answering model's hash (0 for the test model)."""
    import models

    engine = open_engine()
    assert engine.settings.answerable_min is None
    gen = LocalLlama(engine.settings)
    entry = next(m for m in models.llm_models() if m.get("sha256") == gen.identity())
    assert gen.answerable_min() == entry["answerable_min"] == 0.0
    qwen = models.find_model("qwen2.5-coder-1.5b-instruct-q4_k_m")
    assert qwen is not None and 0.0 < qwen["answerable_min"] < qwen["grounded_min"] < 1.0
    assert gen.grounded_min() == 0.0, "no such rule for a model nobody measured"
    assert gen.confidence_rule() == (0.0, 0.0), "no confidence rule for a model nobody measured"
    assert 0.0 < qwen["confident_min"] < 1.0 and 0.0 < qwen["unsure_weight"] < 1.0
