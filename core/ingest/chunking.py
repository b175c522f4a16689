"""Structure-aware chunking bounded by the embedder's own word pieces.

Sections (headings) and PDF pages are hard boundaries, so a chunk cites one section and one page.
Inside a section, whole paragraphs are packed together up to ``max_tokens``; a paragraph longer
than that is cut into overlapping windows that end at a sentence break where one is near.
all-MiniLM-L6-v2 saw at most 256 word pieces in training, so the bound stays below that.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from typing import Any, Protocol

from core.documents import Chunk, Extracted

_PARA_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
_SENTENCE_END = re.compile(r"[.!?;:][\"')\]]*\s")


class Encoding(Protocol):
    @property
    def offsets(self) -> list[tuple[int, int]]: ...


class TokenizerLike(Protocol):
    def encode_batch(self, input: Sequence[Any], is_pretokenized: bool = ...,  # noqa: A002 - tokenizers' name
                     add_special_tokens: bool = ...) -> list[Any]: ...


def load_tokenizer(path: str) -> TokenizerLike:
    """The embedder's tokenizer, without truncation or padding, so counts are true counts."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    tok.no_truncation()
    tok.no_padding()
    return tok


def _segments(ex: Extracted) -> list[tuple[int, int]]:
    cuts = sorted({0, len(ex.text), *(s for s, _ in ex.sections), *(p for p, _ in ex.pages)})
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if a < b]


def _paragraphs(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    pos = start
    for m in _PARA_BREAK.finditer(text, start, end):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, end))
    out = []
    for a, b in spans:
        while a < b and text[a].isspace():
            a += 1
        while b > a and text[b - 1].isspace():
            b -= 1
        if a < b:
            out.append((a, b))
    return out


class Chunker:
    def __init__(self, tokenizer: TokenizerLike, max_tokens: int = 200, overlap: int = 32) -> None:
        if max_tokens < 8 or not 0 <= overlap < max_tokens // 2:
            raise ValueError("chunk size must be >= 8 and overlap < half of it")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap = overlap

    def _split_long(self, text: str, base: int, offsets: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Cut one long paragraph (absolute start ``base``) into overlapping token windows."""
        n = len(offsets)
        ends = [base + o[1] for o in offsets]
        spans: list[tuple[int, int]] = []
        a = 0
        while a < n:
            b = min(a + self.max_tokens, n)
            start = base + offsets[a][0]
            end = base + offsets[b - 1][1]
            if b < n:
                lo = base + offsets[a + (b - a) // 2][0]
                best = None
                for m in _SENTENCE_END.finditer(text, lo, end + 1):
                    best = m.start() + len(m.group().rstrip())
                if best is not None and best > start:
                    end = best
                    b = max(bisect.bisect_right(ends, end), a + 1)
            spans.append((start, end))
            if b >= n:
                break
            nxt = max(b - self.overlap, a + 1)
            while nxt > a + 1 and not text[base + offsets[nxt][0] - 1].isspace():
                nxt -= 1  # start the next window at a word, not inside one
            a = nxt
        return spans

    def chunk(self, ex: Extracted, document_id: str) -> list[Chunk]:
        text = ex.text
        paras: list[tuple[int, int, int]] = []  # start, end, segment index
        for seg_no, (s, e) in enumerate(_segments(ex)):
            paras.extend((a, b, seg_no) for a, b in _paragraphs(text, s, e))
        if not paras:
            return []
        encodings = self.tokenizer.encode_batch([text[a:b] for a, b, _ in paras], add_special_tokens=False)
        heading_at = {s for s, _ in ex.sections}
        # (start, end, anchor): the anchor is where the chunk's section is looked up.
        spans: list[tuple[int, int, int]] = []
        cur: tuple[int, int, int, int] | None = None  # start, end, tokens, anchor
        cur_seg = -1
        headings_only = False  # cur holds nothing but heading lines so far
        for (a, b, seg), enc in zip(paras, encodings):
            count = len(enc.offsets)
            if count > self.max_tokens:
                if cur:
                    spans.append((cur[0], cur[1], cur[3]))
                    cur = None
                spans.extend((s, e, s) for s, e in self._split_long(text, a, list(enc.offsets)))
                headings_only = False
                continue
            fits = cur is not None and cur[2] + count <= self.max_tokens
            if cur and fits and seg == cur_seg:
                cur = (cur[0], b, cur[2] + count, cur[3])
                headings_only = False
            elif cur and fits and headings_only:
                # A heading with no text of its own (a title above a subsection) joins what follows,
                # rather than becoming a chunk that can only be cited as an empty passage.
                cur = (cur[0], b, cur[2] + count, a)
                headings_only = a in heading_at
            else:
                if cur:
                    spans.append((cur[0], cur[1], cur[3]))
                cur = (a, b, count, a)
                headings_only = a in heading_at
            cur_seg = seg
        if cur:
            spans.append((cur[0], cur[1], cur[3]))
        sec_starts = [s for s, _ in ex.sections]
        page_starts = [p for p, _ in ex.pages]
        chunks = []
        for i, (s, e, anchor) in enumerate(spans):
            si = bisect.bisect_right(sec_starts, anchor) - 1
            pi = bisect.bisect_right(page_starts, s) - 1
            chunks.append(Chunk(
                document_id=document_id, index=i, text=text[s:e], start=s, end=e, title=ex.title,
                section=ex.sections[si][1] if si >= 0 else "",
                page=ex.pages[pi][1] if pi >= 0 else None,
            ))
        return chunks
