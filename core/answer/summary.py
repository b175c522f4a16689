"""Summaries of whole documents: all passages in one prompt when they fit, else map-reduce.

Map: groups of consecutive passages, each summarised in two or three sentences by the fast bundled
model (Qwen2.5-Coder-0.5B, about twice as quick) when it is installed, else by the answer model.
Reduce: the answer model writes the summary from the numbered part summaries. The grounding check
then ties each summary sentence to the part that supports it, and within that part to the passage
that supports it best, so every citation is a real passage of the document.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace

from core.answer.generator import Generator
from core.answer.grounding import SUMMARY_SUPPORT_MIN, Grounded, ground, remark, support
from core.answer.prompt import TEMPLATE_OVERHEAD, map_messages, source_block, summary_messages
from core.answer.streaming import Pumped, pump
from core.retrieval import SearchHit
from core.settings import Settings

log = logging.getLogger(__name__)

SUMMARY_TOKENS = 320
MAP_TOKENS = 110
#: A map group's passages, in tokens: big enough for few calls, small enough to read in ~10 s.
MAP_GROUP_TOKENS = 1400


@dataclass
class SummaryPlan:
    """How a summary will be made: one prompt over ``passages``, or map groups first."""

    passages: list[SearchHit]
    groups: list[list[SearchHit]]
    map_reduce: bool


def plan(gen: Generator, passages: Sequence[SearchHit], fast: Generator | None = None) -> SummaryPlan:
    budget = gen.context_size() - SUMMARY_TOKENS - TEMPLATE_OVERHEAD - 200
    costs = [gen.count_tokens(source_block(i + 1, h)) + 2 for i, h in enumerate(passages)]
    if sum(costs) <= budget:
        return SummaryPlan(list(passages), [list(passages)], False)
    group_budget = min(MAP_GROUP_TOKENS, (fast or gen).context_size() - MAP_TOKENS - TEMPLATE_OVERHEAD - 120)
    groups: list[list[SearchHit]] = [[]]
    used = 0
    for hit, cost in zip(passages, costs):
        if groups[-1] and used + cost > group_budget:
            groups.append([])
            used = 0
        groups[-1].append(hit)
        used += cost
    return SummaryPlan(list(passages), groups, True)


def map_parts(
    fast: Generator,
    title: str,
    groups: Sequence[Sequence[SearchHit]],
    cancel: threading.Event,
    status: Callable[[str], None],
) -> list[SearchHit]:
    """One short summary per group, as a pseudo-passage carrying the group's first chunk's place."""
    parts: list[SearchHit] = []
    for i, group in enumerate(groups, start=1):
        if cancel.is_set():
            break
        status(f"Reading part {i} of {len(groups)} of “{title}”…")
        text = "\n\n".join(h.text.strip() for h in group)
        result = Pumped()
        for _ in pump(fast, map_messages(title, text), max_tokens=MAP_TOKENS, temperature=0.1, cancel=cancel,
                      result=result):
            pass
        first = group[0]
        parts.append(replace(first, text=result.text.strip() or text[:400], section=f"part {i}"))
    return parts


def to_passages(grounded: Grounded, parts: Sequence[SearchHit], groups: Sequence[Sequence[SearchHit]],
                ) -> tuple[Grounded, list[SearchHit]]:
    """Re-point a reduce answer's part citations at the real passage of each part that supports
    each sentence best, numbered in order of first use."""
    numbered: list[SearchHit] = []
    index: dict[str, int] = {}
    per_sentence: list[list[int]] = []
    for sent in grounded.sentences:
        nums: list[int] = []
        for n in sent.citations:
            group = groups[n - 1] if 0 < n <= len(groups) else [parts[n - 1]]
            best = max(group, key=lambda h: support(sent.text, h.text))
            if best.point_id not in index:
                numbered.append(best)
                index[best.point_id] = len(numbered)
            if index[best.point_id] not in nums:
                nums.append(index[best.point_id])
        per_sentence.append(nums)
    return remark(grounded, per_sentence), numbered


class Summarizer:
    """One summary: ``stream()`` yields its text; then ``grounded()`` ties it to passages."""

    def __init__(self, gen: Generator, fast: Generator | None, title: str, request: str,
                 passages: Sequence[SearchHit], settings: Settings, cancel: threading.Event,
                 status: Callable[[str], None]) -> None:
        self.gen, self.fast, self.title, self.request = gen, fast, title, request
        self.passages, self.settings, self.cancel, self.status = list(passages), settings, cancel, status
        self.result = Pumped()
        self.plan: SummaryPlan | None = None
        self.sources: list[SearchHit] = []

    def stream(self) -> Iterator[str]:
        self.plan = plan(self.gen, self.passages, self.fast)
        if self.plan.map_reduce:
            self.sources = map_parts(self.fast or self.gen, self.title, self.plan.groups, self.cancel, self.status)
        else:
            self.sources = self.plan.passages
        if self.cancel.is_set():
            self.result.stop_reason = "user"
            return
        self.status(f"Writing the summary of “{self.title}”…")
        blocks = [source_block(i + 1, h) for i, h in enumerate(self.sources)]
        yield from pump(self.gen, summary_messages(self.title, self.request, blocks), max_tokens=SUMMARY_TOKENS,
                        temperature=self.settings.temperature, cancel=self.cancel, result=self.result)

    def grounded(self) -> tuple[Grounded, list[SearchHit]]:
        """The summary checked against what it was written from; citations become passages."""
        grounded = ground(self.result.text, [s.text for s in self.sources], self.request,
                          threshold=SUMMARY_SUPPORT_MIN)
        if self.plan is not None and self.plan.map_reduce:
            return to_passages(grounded, self.sources, self.plan.groups)
        return grounded, list(self.sources)
