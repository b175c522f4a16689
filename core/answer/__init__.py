"""Answers: prompt, generators, grounding and citations, guardrails, the answer cache, the answerer.

Import from the modules themselves (``core.answer.answerer.Answerer``); the names below are the
ones the window and the CLI use most, re-exported for them.
"""

from core.answer.types import ABSTAIN_TEXT, Answer, AnswerEvent, AnswerStream, Sentence

__all__ = ["ABSTAIN_TEXT", "Answer", "AnswerEvent", "AnswerStream", "Answerer", "Sentence"]


def __getattr__(name: str) -> object:
    # The answerer pulls in the generators; load it only when asked for.
    if name == "Answerer":
        from core.answer.answerer import Answerer

        return Answerer
    raise AttributeError(name)
