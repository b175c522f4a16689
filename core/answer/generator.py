"""The generator interface: what the answer pipeline needs from a text backend, and its errors.

Two backends implement it: ``llama_local.LocalLlama`` (a GGUF through llama-cpp-python) and
``openai_remote.OpenAICompatible`` (an OpenAI-compatible server). Both stream text pieces and
honour a ``threading.Event`` for stop.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from core.errors import FootnoteError

ChatMessage = dict[str, str]

class GenerationError(FootnoteError):
    """Generation failed; ``str()`` is a complete message for a person (never holds a key)."""


class LocalModelUnavailable(GenerationError):
    """The GGUF is missing or llama.cpp could not load it: ``auto`` falls back to OpenAI."""


class FirstTokenTimeout(GenerationError):
    """No first token before the deadline: ``auto`` falls back to OpenAI."""


class RemoteError(GenerationError):
    """The OpenAI-compatible server refused, failed or broke off."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class StreamStats:
    """Filled in by ``stream()`` as it goes, for timings and benchmarks."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    started: float = 0.0
    first_token_at: float | None = None
    finished_at: float | None = None
    stopped: bool = False
    finish_reason: str = ""
    #: Per answer token, whether the model gave it less than even odds (local model only).
    unsure_tokens: list[bool] = field(default_factory=list)

    @property
    def unsure_share(self) -> float | None:
        """Share of the answer's tokens that the model gave less than even odds, or None."""
        return sum(self.unsure_tokens) / len(self.unsure_tokens) if self.unsure_tokens else None

    @property
    def first_token_s(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    @property
    def decode_tokens_per_s(self) -> float | None:
        if self.first_token_at is None or self.finished_at is None or self.completion_tokens < 2:
            return None
        span = self.finished_at - self.first_token_at
        return (self.completion_tokens - 1) / span if span > 0 else None


class Generator(Protocol):
    """What the answer pipeline needs from a backend."""

    name: str

    def count_tokens(self, text: str) -> int: ...

    def context_size(self) -> int: ...

    def model_name(self) -> str: ...

    def identity(self) -> str:
        """What makes this model's answers its own (a file hash, a server and model name)."""
        ...

    def yes_probability(self, messages: list[ChatMessage], cancel: threading.Event | None = None) -> float | None:
        """P(yes) for a yes/no prompt, or None where the backend cannot tell (no logits)."""
        ...

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        cancel: threading.Event | None = None,
        first_token_deadline: float | None = None,
        stats: StreamStats | None = None,
    ) -> Iterator[str]: ...


