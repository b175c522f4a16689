"""Chunking properties: nothing lost, nothing duplicated beyond the overlap, offsets exact, no empties."""

from __future__ import annotations

from functools import lru_cache

from hypothesis import given, settings
from hypothesis import strategies as st

from core.documents import Extracted
from core.ingest.chunking import Chunker, load_tokenizer
from core.modelstore import embedding_model_dir

WORDS = st.sampled_from(["alpha", "beta", "gamma.", "delta,", "epsilon!", "zeta?", "eta", "théta", "北京", "x1",
                         "supercalifragilistic", "end."])


@lru_cache(maxsize=1)
def tokenizer():  # type: ignore[no-untyped-def]
    import tempfile
    from pathlib import Path

    folder = embedding_model_dir(Path(tempfile.mkdtemp(prefix="footnote-tok-")))
    return load_tokenizer(str(folder / "tokenizer.json"))


paragraph = st.lists(WORDS, min_size=1, max_size=120).map(" ".join)
document = st.lists(st.tuples(st.booleans(), paragraph), min_size=1, max_size=12)


def build(parts: list[tuple[bool, str]]) -> Extracted:
    text, sections, pos = "", [], 0
    for is_heading, para in parts:
        if text:
            text += "\n\n"
        if is_heading:
            sections.append((len(text), para[:30]))
        text += para
        pos = len(text)
    assert pos == len(text)
    return Extracted(source="s", title="t", text=text, kind="text", sections=sections)


@settings(max_examples=60, deadline=None)
@given(document, st.integers(min_value=16, max_value=80), st.integers(min_value=0, max_value=7))
def test_chunk_properties(parts: list[tuple[bool, str]], max_tokens: int, overlap: int) -> None:
    ex = build(parts)
    chunker = Chunker(tokenizer(), max_tokens=max_tokens, overlap=overlap)
    chunks = chunker.chunk(ex, "doc")
    assert chunks, "a document with words must produce chunks"
    covered = [False] * len(ex.text)
    for prev, cur in zip(chunks, chunks[1:]):
        assert cur.start >= prev.start and cur.end > prev.end, "chunks advance through the text"
        if cur.start < prev.end:  # overlap only inside a split paragraph, bounded by the overlap setting
            shared = ex.text[cur.start:prev.end]
            n_tokens = len(tokenizer().encode(shared, add_special_tokens=False).ids)
            assert n_tokens <= overlap + 8  # + one word snapped to its start
    for c in chunks:
        assert c.text.strip(), "no empty chunks"
        assert ex.text[c.start:c.end] == c.text, "offsets point at the chunk text"
        n_tokens = len(tokenizer().encode(c.text, add_special_tokens=False).ids)
        assert n_tokens <= max_tokens
        for i in range(c.start, c.end):
            covered[i] = True
    lost = [ch for ch, cov in zip(ex.text, covered) if not cov and not ch.isspace()]
    assert not lost, f"text lost: {''.join(lost)[:50]!r}"


def test_sections_and_pages_are_boundaries() -> None:
    text = "Intro line.\n\nHeading Two\n\nBody of two."
    ex = Extracted(source="s", title="T", text=text, kind="pdf", sections=[(13, "Heading Two")], pages=[(0, 1), (13, 2)])
    chunks = Chunker(tokenizer(), max_tokens=100, overlap=8).chunk(ex, "d")
    assert [(c.text, c.section, c.page) for c in chunks] == [
        ("Intro line.", "", 1), ("Heading Two\n\nBody of two.", "Heading Two", 2)]


def test_a_heading_without_text_joins_the_next_section() -> None:
    text = "# Solar power\n\n## History\n\nBell Labs built the first practical silicon cell in 1954."
    ex = Extracted(source="s", title="Solar power", text=text, kind="markdown",
                   sections=[(0, "Solar power"), (15, "History")])
    [chunk] = Chunker(tokenizer(), max_tokens=100, overlap=8).chunk(ex, "d")
    assert chunk.text == text and chunk.section == "History"


def test_chunks_carry_their_range_within_the_page() -> None:
    page_one = "First page text. " * 30
    page_two = "Second page, which is long. " * 80  # longer than one chunk: split into windows
    text = page_one.strip() + "\n\n" + page_two.strip()
    second = len(page_one.strip()) + 2
    ex = Extracted(source="s", title="T", text=text, kind="pdf", pages=[(0, 1), (second, 2)])
    chunks = Chunker(tokenizer(), max_tokens=64, overlap=8).chunk(ex, "d")
    pages = {1: text[:second - 2], 2: text[second:]}
    assert {c.page for c in chunks} == {1, 2} and len(chunks) > 3
    for c in chunks:
        assert c.page is not None and c.page_start is not None and c.page_end is not None
        assert pages[c.page][c.page_start:c.page_end] == c.text, "the range points into the page's own text"
    assert [c.page_start for c in chunks if c.page == 2][0] == 0


def test_text_outside_pages_has_no_page_range() -> None:
    ex = Extracted(source="s", title="T", text="Plain text, no pages.", kind="text")
    [chunk] = Chunker(tokenizer(), max_tokens=64, overlap=8).chunk(ex, "d")
    assert (chunk.page, chunk.page_start, chunk.page_end) == (None, None, None)


def test_a_heading_at_the_foot_of_a_page_stays_on_its_page() -> None:
    text = "Body one.\n\nChapter Two\n\nBody two."
    ex = Extracted(source="s", title="T", text=text, kind="pdf", sections=[(11, "Chapter Two")],
                   pages=[(0, 1), (24, 2)])
    chunks = Chunker(tokenizer(), max_tokens=100, overlap=8).chunk(ex, "d")
    assert [(c.text, c.page, c.page_start, c.page_end) for c in chunks] == [
        ("Body one.", 1, 0, 9), ("Chapter Two", 1, 11, 22), ("Body two.", 2, 0, 9)]
