"""Prompts: numbered passages fitted to the model's context, the answer and check instructions.

The question's prompt and the answerability check share everything up to the question, so the
local model reads the passages once: llama.cpp keeps them in its KV cache and the second prompt
only adds its own last line.

Passages are added in rank order while they fit ``n_ctx`` minus the answer's room minus the
question and recent turns, and at most ``settings.answer_passages`` of them: each passage costs
about 1.5 s of prompt reading with the 1.5B model on two cores, and retrieval puts the right
passage first for most questions. Nothing is cut mid-passage.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from core.answer.generator import ChatMessage, GenerationError, Generator
from core.documents import display_title
from core.retrieval import SearchHit
from core.settings import Settings

log = logging.getLogger(__name__)

#: Tokens kept free for the chat template's own wrapping of each message.
TEMPLATE_OVERHEAD = 48
HISTORY_CHARS = 1200

#: No "say it is not there" instruction: with one, the 1.5B model declined 15-40 % of answerable dev
#: questions. Whether the sources hold the answer is asked separately (CHECK_TAIL), from logits.
#: No worked example turn before the question either: one lifted the check's AUC on one dev spread
#: and lowered it on ClapNQ on the standard one (BENCHMARKS.md, ninth session).
SYSTEM_PROMPT = (
    "You answer questions using only the numbered sources you are given.\n"
    "- Answer in one to three short sentences, giving the exact names, numbers and dates as the sources state them.\n"
    "- End each sentence with the number of the source it comes from in square brackets, like [1] or [2].\n"
    "- Use only what the sources say."
)
ANSWER_TAIL = "Answer the question from the sources, citing them like [1]."
CHECK_TAIL = "Do the sources above state the answer to this question? Reply with one word: yes or no."

SUMMARY_SYSTEM = (
    "You summarize documents using only the numbered passages you are given.\n"
    "- Write three to six short sentences covering the main points, in the order of the document.\n"
    "- End each sentence with the number of the passage it comes from in square brackets, like [1] or [2].\n"
    "- Use only what the passages say."
)
MAP_SYSTEM = "You summarize text. Write two or three short sentences with its main points. Use only what the text says."


@dataclass
class Prompt:
    """The answer prompt, its check variant, and the passages in the order they were numbered.

    ``prefix_checks`` asks the same check over the first passage, then the first two, and so on up
    to all but the last (``check`` has them all). Asked in that order they share the KV cache: each
    reads one more passage and the check's own last line.
    """

    messages: list[ChatMessage]
    check: list[ChatMessage]
    numbered: list[SearchHit]
    prompt_tokens: int
    prefix_checks: list[list[ChatMessage]] = field(default_factory=list)


def source_text(hit: SearchHit) -> str:
    """A passage as the model reads it under its number: its title, section and page, then its text.

    Grounding checks answers against this, not the bare text: "Super Bowl 50" in an answer may come
    from the heading the model was shown.
    """
    head = display_title(hit.title, hit.source)
    if hit.section and hit.section != hit.title:
        head += f" — {hit.section}"
    if hit.page is not None:
        head += f", p. {hit.page}"
    return f"{head}\n{hit.text.strip()}"


def source_block(n: int, hit: SearchHit) -> str:
    return f"[{n}] {source_text(hit)}"


def fit_passages(gen: Generator, hits: Sequence[SearchHit], budget: int, limit: int) -> tuple[list[SearchHit],
                                                                                               list[str], int]:
    """Passages in rank order while they fit ``budget`` tokens, at most ``limit``; (hits, blocks, left)."""
    numbered: list[SearchHit] = []
    blocks: list[str] = []
    for hit in hits:
        if len(numbered) >= limit:
            break
        block = source_block(len(numbered) + 1, hit)
        cost = gen.count_tokens(block) + 2
        if cost > budget:
            log.info("source skipped reason=context_budget tokens=%d left=%d", cost, budget)
            continue
        numbered.append(hit)
        blocks.append(block)
        budget -= cost
    return numbered, blocks, budget


def build_prompt(gen: Generator, question: str, hits: Sequence[SearchHit], history: Sequence[tuple[str, str]],
                 settings: Settings) -> Prompt:
    """Fit the top passages (and recent turns) into the model's context, counting its own tokens."""
    n_ctx = gen.context_size()
    head = f"Question: {question}"
    budget = n_ctx - settings.max_answer_tokens - TEMPLATE_OVERHEAD
    budget -= gen.count_tokens(SYSTEM_PROMPT) + gen.count_tokens(head) + gen.count_tokens(ANSWER_TAIL) + 8
    if budget <= 0:
        raise GenerationError(
            f"the context window ({n_ctx} tokens) leaves no room for sources; raise n_ctx or lower max_answer_tokens"
        )
    turns: list[ChatMessage] = []
    for q, a in reversed(history):
        pair: list[ChatMessage] = [{"role": "user", "content": q}, {"role": "assistant", "content": a[:HISTORY_CHARS]}]
        cost = sum(gen.count_tokens(m["content"]) + 8 for m in pair)
        if cost > budget // 3:
            break
        turns = pair + turns
        budget -= cost
    numbered, blocks, left = fit_passages(gen, hits, budget, max(1, settings.answer_passages))
    if not numbered:
        raise GenerationError("no retrieved passage fits in the context window; raise n_ctx")
    system: ChatMessage = {"role": "system", "content": SYSTEM_PROMPT}

    def user(k: int, tail: str) -> list[ChatMessage]:
        shared = "Sources:\n" + "\n\n".join(blocks[:k]) + "\n\n" + head
        return [system, *turns, {"role": "user", "content": f"{shared}\n\n{tail}"}]

    used = n_ctx - settings.max_answer_tokens - TEMPLATE_OVERHEAD - left
    return Prompt(user(len(blocks), ANSWER_TAIL), user(len(blocks), CHECK_TAIL), numbered, used,
                  [user(k, CHECK_TAIL) for k in range(1, len(blocks))])


def summary_messages(title: str, request: str, blocks: Sequence[str]) -> list[ChatMessage]:
    user = f"Document: {title}\n\nPassages:\n" + "\n\n".join(blocks) + f"\n\nRequest: {request}"
    return [{"role": "system", "content": SUMMARY_SYSTEM}, {"role": "user", "content": user}]


def map_messages(title: str, text: str) -> list[ChatMessage]:
    return [{"role": "system", "content": MAP_SYSTEM},
            {"role": "user", "content": f"Part of the document “{title}”:\n\n{text}\n\nSummarize this part."}]
