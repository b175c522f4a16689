"""Document-level requests: "summarize the report", "what is this about", "main points of X".

Such a request is about a whole document, not a passage, so the relevance threshold and the top-k
search do not apply: the answer reads the document itself (all its passages in order when they
fit, a map-reduce over groups of passages when they do not). This module only decides *whether*
a question is such a request and *which* documents it means; ``summary.py`` does the reading.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence

from core.documents import Document

_REQUEST = re.compile(
    r"\b(?:summari[sz]e|summari[sz]ing|summary|sum up|recap|overview|tl;?\s?dr|gist|outline|synopsis|"
    r"(?:main|key|important|central)\s+(?:points?|ideas?|topics?|themes?|findings?|takeaways?|arguments?|messages?)|"
    r"what\s+(?:is|are|was)\s+(?:this|these|that|it|the\s+\w+)(?:\s+\w+)?\s+about|"
    r"what\s+does\s+(?:this|that|it|the\s+\w+)\s+(?:\w+\s+)?(?:say|cover|discuss|describe)\s*\??$)",
    re.IGNORECASE,
)
#: A question for one fact ("who summarized the findings?") is not a request for a summary.
_FACT = re.compile(r"^\s*(?:who|whom|whose|when|where|which|why|how\s+(?:many|much|long|old|deep|far|big|often))\b",
                   re.IGNORECASE)
_FILLER = frozenset(
    "summarize summarise summarizing summarising summary sum up recap overview tldr tl dr gist outline synopsis "
    "main key important central points point ideas idea topics topic themes theme findings finding takeaways "
    "takeaway arguments argument messages message what is are was this these that it the a an of in on about "
    "please give me list document documents file files report paper article page text doc say does cover discuss "
    "describe and for to briefly short brief".split()
)


def is_document_request(question: str) -> bool:
    """Does the question ask about a whole document rather than a fact in it?"""
    return _REQUEST.search(question) is not None and _FACT.search(question) is None


def _words(text: str) -> set[str]:
    text = unicodedata.normalize("NFKC", text).casefold()
    return {w for w in re.findall(r"[^\W_]+", text) if len(w) > 1}


def named_words(question: str) -> set[str]:
    """The words of a document request that could name its document ("the *solar* report")."""
    return {w for w in _words(question) if w not in _FILLER}


def target_documents(
    question: str,
    documents: Sequence[Document],
    scope: Sequence[str] = (),
    search_top: Callable[[str], str | None] | None = None,
) -> list[Document]:
    """The documents a document request means.

    In order: the chat's scope (selected documents); a document whose title or file name shares
    the most words with the request; the only document of the library; the document of the best
    search hit for the request's own words. Empty when none of these applies.
    """
    ready = [d for d in documents if d.status == "ready"]
    if scope:
        wanted = set(scope)
        return [d for d in ready if d.id in wanted]
    named = named_words(question)
    if named:
        def overlap(d: Document) -> float:
            name = _words(d.title) | _words(re.sub(r"\.\w+$", "", d.source.rsplit("/", 1)[-1]))
            return len(named & name) / max(1, len(named))

        best = max(ready, key=overlap, default=None)
        if best is not None and overlap(best) >= 0.5:
            return [best]
    if len(ready) == 1:
        return ready
    if search_top is not None:
        query = " ".join(sorted(named)) or question
        doc_id = search_top(query)
        return [d for d in ready if d.id == doc_id]
    return []
