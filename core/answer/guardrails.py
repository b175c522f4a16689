"""Blocked terms and topics, checked on the question and on the answer."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from core.answer.citations import WORD as _WORD
from core.settings import Settings

TOPIC_SIMILARITY = 0.6

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



class Guardrails:
    """Refuses questions and answers that hold a blocked term, or are about a blocked topic by
    their words or by meaning (embedding cosine, when an embedder is given)."""

    def __init__(self, embedder: Any = None) -> None:
        self.embedder = embedder
        self._topic_vectors: dict[str, Any] = {}

    def check(self, text: str, where: str, settings: Settings) -> str | None:
        """The refusal to show, or None."""
        term = blocked_term(text, settings.blocked_terms)
        if term:
            return f"I can't help with this: the {where} contains the blocked term \"{term}\"."
        topic = self.blocked_topic(text, settings.blocked_topics)
        if topic:
            return f"I can't help with this: the {where} is about the blocked topic \"{topic}\"."
        return None

    def blocked_topic(self, text: str, topics: Sequence[str]) -> str | None:
        topics = [t.strip() for t in topics if t.strip()]
        if not topics:
            return None
        for topic in topics:
            if _phrase_in(topic, text):
                return topic
        if self.embedder is None:
            return None
        import numpy as np

        q = np.asarray(self.embedder.embed_query(text[:2000]), dtype=np.float32)
        qn = float(np.linalg.norm(q)) or 1.0
        for topic in topics:
            vec = self._topic_vectors.get(topic)
            if vec is None:
                vec = np.asarray(self.embedder.embed_query(topic), dtype=np.float32)
                self._topic_vectors[topic] = vec
            sim = float(np.dot(q, vec) / (qn * (float(np.linalg.norm(vec)) or 1.0)))
            if sim >= TOPIC_SIMILARITY:
                return topic
        return None
