"""One token pump for every backend: stop, first-token time, and the repetition guard.

It yields the text pieces as they come and, when it ends, leaves in ``Pumped`` what happened:
the text (cut at the start of a loop when the guard fired), why it stopped, and the first-token
time measured from the question (not from the generator's own start), so a slow prompt read
shows up in the figure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from core.answer.generator import ChatMessage, Generator, StreamStats
from core.answer.repetition import RepetitionGuard
from core.answer.types import StopReason


@dataclass
class Pumped:
    text: str = ""
    stop_reason: StopReason | None = None
    first_token_at: float | None = None
    stats: StreamStats = field(default_factory=StreamStats)


def pump(
    gen: Generator,
    messages: list[ChatMessage],
    *,
    max_tokens: int,
    temperature: float,
    cancel: threading.Event,
    result: Pumped,
    deadline: float | None = None,
) -> Iterator[str]:
    """Stream ``gen``'s answer, stopping on cancel, on a loop (``stop_reason="repetition"``) or at
    ``max_tokens`` (``"length"``)."""
    guard = RepetitionGuard()
    stream = gen.stream(messages, max_tokens=max_tokens, temperature=temperature, cancel=cancel,
                        first_token_deadline=deadline, stats=result.stats)
    try:
        for piece in stream:
            if result.first_token_at is None:
                result.first_token_at = time.monotonic()
            loop = guard.feed(piece)
            if loop is not None:
                kept = guard.text[: loop.cut].rstrip()
                result.text = kept
                result.stop_reason = "repetition"
                return
            result.text = guard.text
            yield piece
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()
    if result.stats.stopped or cancel.is_set():
        result.stop_reason = "user"
    elif result.stats.finish_reason == "length":
        result.stop_reason = "length"
