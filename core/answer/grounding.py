"""Every sentence of an answer is grounded in a passage, or visibly not.

After generation the answer is split into sentences and each is checked against the prompted
passages. A citation stays only where its passage supports the sentence; a sentence the model cited
to the wrong passage is given the passage that does support it; a sentence that no passage supports
loses its markers and is returned with ``supported=False``, so the window can mark it and
``--json`` can list it. Nothing is ever cited by default.

Support is measured on words, which is cheap (well under a millisecond per sentence) and does not
depend on sampling: the share of the sentence's content words that the passage contains, counting
only the words the question did not already bring (restating the question proves nothing), with
crude prefix stemming so that "electric" meets "electricity". Every number in the sentence must be
in the passage (or the question): a wrong year is the commonest invented fact.

A sentence that says the sources lack the answer ("the documents do not mention ...") is a
*not-found* sentence: an answer made only of those is an abstention.

An answer that only restates the question ("This religion emerged in the late 15th century and was
a combination of Islam and Hinduism." to that very question) adds no word the question did not
bring: it answers nothing, however well the passages "support" it. ``Grounded.restates_question``
says so; a yes/no answer ("Yes, the Danube flows through ten countries.") and a choice between the
question's own alternatives ("Is Wellington in the north or the south?") are not counted as one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from core.answer.citations import parse_markers
from core.answer.types import Sentence

#: Share of a sentence's new content words that a passage must contain to support it.
SUPPORT_MIN = 0.5
#: Summaries paraphrase more than answers do.
SUMMARY_SUPPORT_MIN = 0.4
STEM = 6

_MARKERS = re.compile(r"\s*\[\s*\d+(?:\s*(?:[,;]|-|–|and)\s*\d+)*\s*\]")
#: A marker used as a noun ("According to [1], ...", "..., as stated in [2].", "In [3], ..."): dropping
#: only the marker would leave "According to, ...", so the phrase goes with it.
_CITED_AS_NOUN = re.compile(
    r"(?:\b(?:according to|as (?:stated|mentioned|described|noted|shown|explained|given|evidenced|indicated|reported|seen) (?:in|by)|based on|see)|"
    r"^\s*(?:in|from))\s+(?:(?:the\s+)?(?:source|passage)s?\s*)?{m}(?:\s*(?:,|and)\s*{m})*\s*,?".format(
        m=_MARKERS.pattern.removeprefix(r"\s*")),
    re.IGNORECASE)
_TERM = re.compile(r"[^\W_]+(?:[.,]\d+)*", re.UNICODE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_STOP = frozenset(
    "a an the of and or to in on at by for from with as is are was were be been being it its this that these "
    "those which who whom whose what when where why how not no yes do does did has have had i you he she we they "
    "them his her their our your my me us there here than then so such can could would should will may might "
    "also into about over under after before between during according source sources passage passages document "
    "documents text answer question provided given based mentioned states stated say says said one".split()
)
_NOT_FOUND = re.compile(
    r"\b(?:not|n't|no|none|neither|nothing|unable|cannot|can't|lack|lacks|without)\b", re.IGNORECASE)
_YES_NO = re.compile(r"^\W*(?:yes|no)\b", re.IGNORECASE)
_ALTERNATIVES = re.compile(r"\bor\b", re.IGNORECASE)
_ABOUT_SOURCES = re.compile(
    r"\b(?:sources?|documents?|passages?|context|provided|given|text|information|details?|mention(?:ed|s)?|"
    r"specif(?:y|ied|ies)|stated?|found|find|answer)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Grounded:
    """The answer text with corrected markers, its sentences, and the passage numbers it cites."""

    text: str
    sentences: list[Sentence]
    cited: list[int]
    not_found: bool
    restates_question: bool = False

    @property
    def nothing_supported(self) -> bool:
        """Every sentence that says something is one that no passage supports."""
        checked = [s for s in self.sentences if s.supported is False or s.citations]
        return bool(checked) and not any(s.supported for s in checked)


def terms(text: str) -> list[str]:
    """Content words, case folded, prefix stemmed; numbers kept whole."""
    return [w if w[0].isdigit() else w[:STEM] for w in words(text)]


#: A word and a question word that share their stem are one word only when they differ by at most
#: this many characters ("electric" and "electricity"); beyond it the word is a compound of its own
#: ("Amazoneregenwoud" is the answer to a question about the Amazon, not a restatement of it).
INFLECTION = 3


def words(text: str) -> list[str]:
    """Content words, case folded, whole (for telling a new word from the question's own)."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return [w for w in _TERM.findall(text) if w not in _STOP and (len(w) >= 3 or w[0].isdigit())]


def _new_words(sentence: str, question: Sequence[str]) -> int:
    """How many of the sentence's content words the question does not already hold."""
    asked = set(question)

    def known(w: str) -> bool:
        if w in asked:
            return True
        if w[0].isdigit():
            return False
        return any(q[:STEM] == w[:STEM] and abs(len(q) - len(w)) <= INFLECTION for q in asked)

    return sum(not known(w) for w in words(sentence))


def _numbers(text: str) -> set[str]:
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans (start, end) covering the text's non-blank parts; trailing markers stay
    with their sentence. Lines (list items) are sentences of their own."""
    spans: list[tuple[int, int]] = []
    for line in re.finditer(r"[^\n]+", text):
        start = line.start()
        body = line.group(0)
        # A boundary: . ! ? (plus closing quotes/brackets and markers) then space and a capital,
        # digit, quote or bracket. "e.g. the" and "J. Smith" do not end sentences.
        for m in re.finditer(r"(?<=[.!?])[\"'”’)]*(?:\s*\[[^\]]*\])*(?=\s+[\"“'(\[]?[A-Z0-9])", body):
            before = body[: m.start()]
            last_word = re.search(r"(\S+)$", before)
            if last_word and re.fullmatch(r"(?:[A-Za-z]\.|e\.g\.|i\.e\.|etc\.|vs\.|Dr\.|Mr\.|Mrs\.|Ms\.|St\.|No\.)",
                                          last_word.group(1)):
                continue
            end = line.start() + m.end()
            if end > start:
                spans.append((start, end))
            start = end
        if line.end() > start:
            spans.append((start, line.end()))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def is_not_found(sentence: str) -> bool:
    """Does the sentence say that the sources lack the answer?"""
    plain = _MARKERS.sub("", sentence)
    return bool(_NOT_FOUND.search(plain) and _ABOUT_SOURCES.search(plain)) and len(terms(plain)) <= 14


@dataclass(frozen=True)
class _Passage:
    terms: frozenset[str]
    numbers: frozenset[str]

    @classmethod
    def of(cls, text: str) -> _Passage:
        return cls(frozenset(terms(text)), frozenset(_numbers(text)))


def support(sentence: str, passage: str, question: str = "") -> float:
    """How well ``passage`` supports ``sentence``: 0 (not at all) to 1."""
    return _support(sentence, _Passage.of(passage), set(terms(question)), _numbers(question))


def _support(sentence: str, passage: _Passage, q_terms: set[str], q_numbers: set[str]) -> float:
    plain = _MARKERS.sub("", sentence)
    s_terms = terms(plain)
    if not s_terms:
        return 0.0
    if any(n not in passage.numbers and n not in q_numbers for n in _numbers(plain)):
        return 0.0
    novel = [t for t in s_terms if t not in q_terms] or s_terms
    return sum(t in passage.terms for t in novel) / len(novel)


def _facts(sentence: str) -> tuple[set[str], set[str]]:
    """The sentence's names (capitalised words after its first, prefix stemmed) and numbers."""
    names = set()
    for m in _TERM.finditer(unicodedata.normalize("NFKC", sentence)):
        w = m.group(0)
        if m.start() > 0 and w[:1].isupper():
            low = w.casefold()
            if low not in _STOP and len(low) >= 3:
                names.add(low[:STEM])
    return names, _numbers(sentence)


def _cover_facts(sentence: str, numbers: list[int], read: Sequence[_Passage], q_terms: set[str],
                 q_numbers: set[str]) -> list[int]:
    """``numbers`` plus the passages that hold a name or number of the sentence that they lack.

    A sentence may join facts from two passages ("The earliest phylum is Porifera [1], as fossils
    from 515 million years ago suggest [2]"); citing only the passage that supports most of it
    would hide where its key name came from.
    """
    names, nums = _facts(sentence)
    names -= q_terms
    nums -= q_numbers
    out = list(numbers)
    for _ in range(len(read)):
        held_terms = set().union(*(read[n - 1].terms for n in out))
        held_numbers = set().union(*(read[n - 1].numbers for n in out))
        missing_names, missing_numbers = names - held_terms, nums - held_numbers
        if not missing_names and not missing_numbers:
            break
        gain = {n: len(missing_names & read[n - 1].terms) + len(missing_numbers & read[n - 1].numbers)
                for n in range(1, len(read) + 1) if n not in out}
        best = max(sorted(gain), key=lambda n: gain[n], default=0)
        if not best or gain[best] == 0:
            break
        out.append(best)
    return sorted(out)


def _place_markers(body: str, numbers: Sequence[int]) -> str:
    """``body`` without markers, then the given ones before its final punctuation."""
    plain = _without_markers(body)
    if not numbers:
        return plain
    marks = "".join(f"[{n}]" for n in numbers)
    m = re.search(r"[.!?:;]+[\"'”’)]*$", plain)
    if m:
        return f"{plain[: m.start()]} {marks}{plain[m.start():]}"
    return f"{plain} {marks}"


def _without_markers(body: str) -> str:
    """The sentence as read without its citation markers, lead-ins such as "According to [1]," too."""
    plain = _CITED_AS_NOUN.sub("", body)
    if plain != body:
        plain = re.sub(r"\s*,\s*([.!?;:])", r"\1", plain).strip(" ,")
        plain = re.sub(r"\s+([,.;:!?])", r"\1", plain)
        if plain[:1].islower() and body.lstrip()[:1].isupper():
            plain = plain[0].upper() + plain[1:]
    return _MARKERS.sub("", plain).strip()


def ground(answer: str, passages: Sequence[str], question: str = "", threshold: float = SUPPORT_MIN) -> Grounded:
    """Check every sentence of ``answer`` against the numbered ``passages`` (1-based)."""
    valid = set(range(1, len(passages) + 1))
    read = [_Passage.of(p) for p in passages]  # once per answer, not once per sentence
    q_terms, q_numbers = set(terms(question)), _numbers(question)
    q_words = words(question)
    spans = split_sentences(answer)
    sentences: list[Sentence] = []
    cursor = 0
    out = ""
    not_found = 0
    substantive = 0
    novel_terms = 0
    for s, e in spans:
        body = answer[s:e]
        out += answer[cursor:s]
        cursor = e
        cited = [n for n in parse_markers(body) if n in valid]
        plain = _MARKERS.sub("", body).strip()
        numbers: list[int]
        supported = True
        if not any(ch.isalnum() for ch in plain):
            out = out.rstrip() if not out.endswith("\n") else out
            continue  # a stray marker or punctuation on its own says nothing
        if is_not_found(plain):
            not_found += 1
            numbers = []
        elif not terms(plain):
            numbers = cited  # nothing to check ("Yes [1].", "No."): keep what the model said
        else:
            substantive += 1
            novel_terms += _new_words(plain, q_words)
            scores = {n: _support(plain, read[n - 1], q_terms, q_numbers) for n in valid}
            good = [n for n in cited if scores[n] >= threshold]
            if good:
                numbers = good
            else:
                best = max(sorted(valid), key=lambda n: scores[n], default=0)
                if best and scores[best] >= threshold:
                    numbers = [best]
                else:
                    numbers, supported = [], False
            if numbers:
                numbers = _cover_facts(plain, numbers, read, q_terms, q_numbers)
        text = _place_markers(body, numbers)
        start = len(out)
        out += text
        sentences.append(Sentence(text, start, len(out), list(numbers), supported))
    final = out.rstrip()
    lead = len(final) - len(final.lstrip())
    if lead:  # offsets must point into the text as returned
        final = final[lead:]
        sentences = [Sentence(st.text, max(0, st.start - lead), st.end - lead, st.citations, st.supported)
                     for st in sentences]
    cited_all = sorted({n for st in sentences for n in st.citations})
    only_not_found = not_found > 0 and substantive == 0
    # A yes/no answer, or one that picks between the question's own alternatives ("north or south?"),
    # may rightly use only the question's words.
    restates = (substantive > 0 and novel_terms == 0 and bool(q_terms) and not _YES_NO.match(final)
                and not _ALTERNATIVES.search(question))
    return Grounded(final, sentences, cited_all, only_not_found, restates)


def remark(grounded: Grounded, numbers: Sequence[Sequence[int]]) -> Grounded:
    """The same sentences with other citation numbers (one list per sentence)."""
    out = ""
    cursor = 0
    text = grounded.text
    sentences: list[Sentence] = []
    for sent, nums in zip(grounded.sentences, numbers):
        out += text[cursor:sent.start]
        cursor = sent.end
        body = _place_markers(sent.text, nums)
        start = len(out)
        out += body
        sentences.append(Sentence(body, start, len(out), list(nums), sent.supported))
    out += text[cursor:]
    return Grounded(out, sentences, sorted({n for s in sentences for n in s.citations}), grounded.not_found,
                    grounded.restates_question)
