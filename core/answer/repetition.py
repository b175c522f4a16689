"""Stop an answer that has started to loop.

Small models fall into loops: the same phrase over and over, or a whole sentence again. Sampling
settings make it rarer, never impossible, so the stream is watched as it grows and cut at the
start of the repetition, keeping the first occurrence. Three patterns, all on normalised words
(case folded, punctuation and ``[n]`` markers dropped, so "[1]" differences do not hide a loop):

* a block of words repeated back to back (``a b c a b c a b c``), at least ``MIN_REPEATS`` times
  and ``MIN_LOOP_WORDS`` words in all, or any single word ``MIN_SAME_WORD`` times in a row;
* a run of ``SPAN_WORDS`` words that already appeared earlier in the answer;
* a sentence of at least ``MIN_SENTENCE_WORDS`` words that the answer already said.

The check is a pure function of the text so far (``find_repetition``), cheap enough to run after
every token (a few hundred words at most).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MIN_REPEATS = 3
MIN_LOOP_WORDS = 9
MIN_SAME_WORD = 6
SPAN_WORDS = 12
MIN_SENTENCE_WORDS = 4
MAX_PERIOD = 40

_WORD = re.compile(r"\[[\d\s,;\-–and]*\]|[^\W_]+(?:['’][^\W_]+)?|\S", re.UNICODE)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)|\n")


@dataclass(frozen=True)
class Repetition:
    """Where the repeated text starts (keep ``text[:cut]``) and which pattern found it."""

    cut: int
    kind: str


def _words(text: str) -> list[tuple[str, int]]:
    """Normalised words with their start offsets; markers and punctuation are left out."""
    out: list[tuple[str, int]] = []
    for m in _WORD.finditer(text):
        w = m.group(0)
        if w.startswith("[") or not w[0].isalnum():
            continue
        out.append((w.casefold(), m.start()))
    return out


def find_repetition(text: str) -> Repetition | None:
    """The first loop at the end of ``text``, or None. Only complete words count."""
    words = _words(text)
    if words and text and text[-1].isalnum():
        words = words[:-1]  # the last word may still be growing
    n = len(words)
    if n < 4:
        return None
    seq = [w for w, _ in words]
    # 1. A block repeated back to back at the end.
    for period in range(1, min(MAX_PERIOD, n // 2) + 1):
        reps = 1
        while (reps + 1) * period <= n and seq[n - (reps + 1) * period : n - reps * period] == seq[n - period :]:
            reps += 1
        if reps < 2:
            continue
        enough = (reps >= MIN_REPEATS and reps * period >= MIN_LOOP_WORDS) or (period == 1 and reps >= MIN_SAME_WORD)
        if enough:
            start_second = n - (reps - 1) * period
            return Repetition(words[start_second][1], "loop")
    # 2. A long span said before.
    if n >= 2 * SPAN_WORDS:
        tail = tuple(seq[n - SPAN_WORDS :])
        for i in range(0, n - 2 * SPAN_WORDS + 1):
            if tuple(seq[i : i + SPAN_WORDS]) == tail:
                j = n - SPAN_WORDS
                while i > 0 and j > i + SPAN_WORDS and seq[i - 1] == seq[j - 1]:
                    i, j = i - 1, j - 1  # the repeat began before the span that found it
                return Repetition(words[j][1], "span")
    # 3. The same sentence again (checked when a sentence has just ended).
    stripped = text.rstrip()
    if stripped and _SENTENCE_END.search(stripped[-1:]):
        bounds = [0] + [m.end() for m in _SENTENCE_END.finditer(stripped)]
        spans = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]
        if len(spans) >= 2:
            last_start, last_end = spans[-1]
            last = [w for w, _ in _words(stripped[last_start:last_end])]
            if len(last) >= MIN_SENTENCE_WORDS:
                for s, e in spans[:-1]:
                    if [w for w, _ in _words(stripped[s:e])] == last:
                        cut = last_start + (len(stripped[last_start:last_end]) - len(stripped[last_start:last_end].lstrip()))
                        return Repetition(cut, "sentence")
    return None


class RepetitionGuard:
    """Feed it the pieces of a stream; ``feed`` returns a ``Repetition`` once the text loops."""

    def __init__(self) -> None:
        self.text = ""

    def feed(self, piece: str) -> Repetition | None:
        self.text += piece
        # Only re-check when a word or sentence may have completed.
        if not piece or piece.strip().isalnum() and not piece[:1].isspace():
            return None
        return find_repetition(self.text)
