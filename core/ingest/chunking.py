"""Structure-aware chunking bounded by the embedder's own word pieces and by characters.

Sections (headings) and PDF pages are hard boundaries, so a chunk cites one section and one page.
Inside a section, whole paragraphs are packed together up to ``max_tokens``; a paragraph longer
than that is cut into overlapping windows that end at a sentence break where one is near.
all-MiniLM-L6-v2 saw at most 256 word pieces in training, so the bound stays below that.

Every input costs time in proportion to its length, whatever its script: each window moves on by
at least two thirds of itself, so text without spaces (Chinese, minified JSON, base64) gives no more
than 1.5 windows per ``max_tokens`` word pieces. A chunk is also bounded in characters
(``max_chars``): the tokenizer reads a "word" longer than 100 characters as one unknown piece, and
long unbroken runs are cut into windows of characters instead. Characters the tokenizer drops
(control characters, zero-width marks) still belong to a chunk, so no visible text is lost.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from core.documents import Chunk, Extracted

_PARA_BREAK = re.compile(r"\n[ \t\r\f\v]*\n")
_SENTENCE_END = re.compile(r"[.!?;:][\"')\]]*\s")
_NON_SPACE = re.compile(r"\S+")
CHARS_PER_TOKEN = 12  # default character cap per word piece of the budget: 200 pieces -> 2,400 characters
BLOCK_CHARS = 32_768  # a long paragraph is tokenised in blocks of about this size, cut at a space
BATCH_CHARS = 1 << 20  # text handed to the tokenizer at once, so memory stays bounded
SNAP = 8  # word pieces a window start may move to begin at a word


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
    n = len(ex.text)
    cuts = sorted({0, n, *(min(max(s, 0), n) for s, _ in ex.sections), *(min(max(p, 0), n) for p, _ in ex.pages)})
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


def _blocks(text: str, a: int, b: int) -> Iterator[tuple[int, int]]:
    """[a, b) in spans of at most BLOCK_CHARS, each cut at a space in its last quarter where there is one."""
    while b - a > BLOCK_CHARS:
        cut = a + BLOCK_CHARS
        lo = cut - BLOCK_CHARS // 4
        space = max(text.rfind(" ", lo, cut), text.rfind("\n", lo, cut), text.rfind("\t", lo, cut))
        if space > a:
            cut = space
        yield a, cut
        a = cut
    yield a, b


class _Pieces:
    """One paragraph's word pieces as absolute (start, end) spans, in order and without overlaps.

    Runs of visible characters that the tokenizer dropped become pieces of their own that cost no
    word pieces, and a piece longer than ``max_chars`` (an unknown "word") is cut into near-equal
    parts; so every non-space character lies in a piece and every piece fits in a chunk.
    ``cum[i]`` counts the real word pieces before piece ``i``.
    """

    def __init__(self, text: str, start: int, max_chars: int) -> None:
        self.text = text
        self.max_chars = max_chars
        self.starts = array("q")
        self.ends = array("q")
        self.cum = array("q", [0])
        self._pos = start  # end of the last piece

    def _add(self, s: int, e: int, real: bool) -> None:
        parts = -(-(e - s) // self.max_chars)
        size = -(-(e - s) // parts)
        total = self.cum[-1]
        for p in range(s, e, size):
            self.starts.append(p)
            self.ends.append(min(p + size, e))
            total += 1 if real and p == s else 0
            self.cum.append(total)
        self._pos = e

    def _gap(self, upto: int) -> None:
        if upto > self._pos and not self.text[self._pos:upto].isspace():
            for m in _NON_SPACE.finditer(self.text, self._pos, upto):
                self._add(m.start(), m.end(), real=False)
        self._pos = max(self._pos, upto)

    def extend(self, base: int, offsets: Sequence[tuple[int, int]]) -> None:
        for s, e in offsets:
            s, e = max(s + base, self._pos), e + base
            if e <= s:
                continue
            self._gap(s)
            self._add(s, e, real=True)

    def close(self, end: int) -> None:
        self._gap(end)

    @property
    def tokens(self) -> int:
        return self.cum[-1]


class Chunker:
    def __init__(self, tokenizer: TokenizerLike, max_tokens: int = 200, overlap: int = 32,
                 max_chars: int | None = None) -> None:
        if max_tokens < 8 or not 0 <= overlap < max_tokens // 2:
            raise ValueError("chunk size must be >= 8 and overlap < half of it")
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens
        self.overlap = overlap
        self.max_chars = max_chars if max_chars is not None else CHARS_PER_TOKEN * max_tokens
        if self.max_chars < 64:
            raise ValueError("a chunk must be allowed at least 64 characters")

    def _encoded(self, text: str, paras: list[tuple[int, int, int]]) -> Iterator[_Pieces]:
        """Each paragraph's pieces, in order; the tokenizer sees bounded batches of bounded blocks."""
        blocks = [(i, s, e) for i, (a, b, _) in enumerate(paras) for s, e in _blocks(text, a, b)]
        para = 0
        pieces = _Pieces(text, paras[0][0], self.max_chars)
        j = 0
        while j < len(blocks):
            k, size = j, 0
            while k < len(blocks) and (k == j or size + blocks[k][2] - blocks[k][1] <= BATCH_CHARS):
                size += blocks[k][2] - blocks[k][1]
                k += 1
            batch = blocks[j:k]
            encodings = self.tokenizer.encode_batch([text[s:e] for _, s, e in batch], add_special_tokens=False)
            for (i, s, _), enc in zip(batch, encodings):
                while para < i:
                    pieces.close(paras[para][1])
                    yield pieces
                    para += 1
                    pieces = _Pieces(text, paras[para][0], self.max_chars)
                pieces.extend(s, enc.offsets)
            j = k
        pieces.close(paras[para][1])
        yield pieces

    def _windows(self, p: _Pieces) -> list[tuple[int, int]]:
        """Cut one long paragraph into overlapping windows of at most max_tokens pieces and max_chars."""
        text, st, en, cum = p.text, p.starts, p.ends, p.cum
        n = len(st)
        spans: list[tuple[int, int]] = []
        a = 0
        while True:
            b_tok = bisect.bisect_right(cum, cum[a] + self.max_tokens, a + 1, n + 1) - 1
            b_chr = bisect.bisect_right(en, st[a] + self.max_chars, a, n)
            b = max(min(b_tok, b_chr), a + 1)
            start, end = st[a], en[b - 1]
            if b >= n:
                spans.append((start, end))
                return spans
            # The next window starts no earlier than k: two thirds of this one, in pieces and characters.
            k_tok = bisect.bisect_left(cum, cum[a] + -(-2 * (cum[b] - cum[a]) // 3), a + 1, b + 1)
            k_chr = bisect.bisect_left(st, start + -(-2 * (end - start) // 3), a + 1, b)
            k = max(min(max(k_tok, k_chr), b), a + 1)
            best = None
            for m in _SENTENCE_END.finditer(text, st[k - 1], end + 1):
                best = m.start() + len(m.group().rstrip())
            if best is not None:
                cut = bisect.bisect_right(en, best, a, b)
                if cut >= k:
                    b, end = cut, en[cut - 1]
            spans.append((start, end))
            # ... and late enough that the piece after this window fits in the next one.
            k = max(k, bisect.bisect_left(st, en[b] - self.max_chars, a, b))
            nxt = min(max(k, bisect.bisect_left(cum, cum[b] - self.overlap, a, b + 1)), b)
            a = self._snap(text, st, nxt, k, b)

    @staticmethod
    def _snap(text: str, st: Sequence[int], nxt: int, lo: int, hi: int) -> int:
        """Move a window start (kept within [lo, hi]) a few pieces so that it begins at a word."""
        if nxt >= hi:
            return hi
        for t in range(nxt, max(lo, nxt - SNAP) - 1, -1):
            if text[st[t] - 1].isspace():
                return t
        for t in range(nxt + 1, min(hi, nxt + SNAP)):
            if text[st[t] - 1].isspace():
                return t
        return nxt

    def chunk(self, ex: Extracted, document_id: str) -> list[Chunk]:
        text = ex.text
        paras: list[tuple[int, int, int]] = []  # start, end, segment index
        for seg_no, (s, e) in enumerate(_segments(ex)):
            paras.extend((a, b, seg_no) for a, b in _paragraphs(text, s, e))
        if not paras:
            return []
        heading_at = {s for s, _ in ex.sections}
        page_starts = [p for p, _ in ex.pages]

        def page_of(pos: int) -> int:
            return bisect.bisect_right(page_starts, pos) - 1

        # (start, end, anchor): the anchor is where the chunk's section is looked up.
        spans: list[tuple[int, int, int]] = []
        cur: tuple[int, int, int, int] | None = None  # start, end, tokens, anchor
        cur_seg = -1
        headings_only = False  # cur holds nothing but heading lines so far
        for (a, b, seg), pieces in zip(paras, self._encoded(text, paras)):
            count = pieces.tokens
            if count > self.max_tokens or b - a > self.max_chars:
                if cur:
                    spans.append((cur[0], cur[1], cur[3]))
                    cur = None
                spans.extend((s, e, s) for s, e in self._windows(pieces))
                headings_only = False
                continue
            fits = cur is not None and cur[2] + count <= self.max_tokens and b - cur[0] <= self.max_chars
            if cur and fits and seg == cur_seg:
                cur = (cur[0], b, cur[2] + count, cur[3])
                headings_only = False
            elif cur and fits and headings_only and page_of(a) == page_of(cur[0]):
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
        chunks = []
        for i, (s, e, anchor) in enumerate(spans):
            si = bisect.bisect_right(sec_starts, anchor) - 1
            pi = page_of(s)
            page_offset = ex.pages[pi][0] if pi >= 0 else None
            chunks.append(Chunk(
                document_id=document_id, index=i, text=text[s:e], start=s, end=e, title=ex.title,
                section=ex.sections[si][1] if si >= 0 else "",
                page=ex.pages[pi][1] if pi >= 0 else None,
                page_start=s - page_offset if page_offset is not None else None,
                page_end=e - page_offset if page_offset is not None else None,
            ))
        return chunks
