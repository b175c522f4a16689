"""Hostile text can't hurt: any script, no spaces, unknown "words", control characters, heading lines
padded with spaces and HTML nested without end go through the real loader and the real tokenizer
without an exception, and chunking stays bounded, exact and complete.

The bound: one paragraph gives at most 1.5 chunks per ``max_tokens`` word pieces (or per
``max_chars`` characters, where the character cap binds) plus one; packing whole paragraphs can
leave chunks half full, so a text of many paragraphs gives at most twice that per section.
"""

from __future__ import annotations

import base64
import json
import string
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.documents import Chunk, Extracted
from core.ingest.chunking import Chunker
from core.ingest.htmltext import extract_html, links, meta_charset
from core.ingest.loaders import load_path
from core.ingest.markdown import headings
from tests.core.test_chunking import tokenizer

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def chars(*ranges: tuple[int, int], extra: str = "") -> st.SearchStrategy[str]:
    alphabet = "".join(chr(c) for lo, hi in ranges for c in range(lo, hi + 1)) + extra
    return st.sampled_from(alphabet)


def run_of(alphabet: st.SearchStrategy[str], max_size: int = 2500) -> st.SearchStrategy[str]:
    return st.lists(alphabet, min_size=1, max_size=max_size).map("".join)


CJK = run_of(chars((0x4E00, 0x9FFF), extra="。，！？「」"))
JAPANESE = run_of(chars((0x3041, 0x3096), (0x30A1, 0x30FA), (0x4E00, 0x4FFF), extra="。、ー"))
THAI = run_of(chars((0x0E01, 0x0E3A), (0x0E40, 0x0E5B)))
EMOJI = run_of(chars((0x1F300, 0x1F5FF), (0x1F900, 0x1F9FF), extra="\u200d\ufe0f\U0001f3fb"), 800)
NO_SPACE = run_of(st.sampled_from(string.ascii_letters + string.digits), 4000)
BASE64 = st.binary(min_size=1, max_size=3000).map(lambda b: base64.b64encode(b).decode())
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(string.ascii_letters + string.digits, max_size=200),
    lambda kids: st.lists(kids, max_size=8) | st.dictionaries(st.text(string.ascii_letters, max_size=12), kids,
                                                              max_size=8),
    max_leaves=300)
MINIFIED_JSON = JSON_VALUES.map(lambda v: json.dumps(v, separators=(",", ":"))).filter(lambda s: s.strip() != "")
CONTROL = run_of(st.characters(categories=["Cc", "Cf", "Zs", "Mn"]) | st.sampled_from("ab"), 2000)
SINGLE_RUNS = st.one_of(CJK, JAPANESE, THAI, EMOJI, NO_SPACE, BASE64, MINIFIED_JSON, CONTROL)

WORD = st.sampled_from(["alpha", "beta.", "gamma,", "北京", "ภาษาไทย", "日本語。", "😀", "x" * 120, "é\u0301"])
SPACE_RUN = st.integers(1, 600).flatmap(lambda n: st.sampled_from([" " * n, "\n" * n, "\t" * n, " \n" * n,
                                                                      "\r\n" * n, "\u3000" * n]))
SPACED = st.lists(st.one_of(WORD, SPACE_RUN, SINGLE_RUNS.map(lambda s: s[:300])), min_size=1, max_size=40).map("".join)
MIXED = st.lists(st.one_of(SINGLE_RUNS, WORD), min_size=1, max_size=8).map(" ".join)

SIZE = st.integers(min_value=16, max_value=64)
OVERLAP = st.integers(min_value=0, max_value=7)


def pieces(text: str) -> int:
    return len(tokenizer().encode(text, add_special_tokens=False).ids)


def check(ex: Extracted, chunker: Chunker, single_paragraph: bool = False) -> list[Chunk]:
    """The chunk properties every input must keep; returns the chunks."""
    chunks = chunker.chunk(ex, "doc")
    text = ex.text
    covered = bytearray(len(text))
    for c in chunks:
        assert c.text.strip(), "no empty chunks"
        assert text[c.start:c.end] == c.text, "offsets point at the chunk text"
        assert len(c.text) <= chunker.max_chars, "a chunk is bounded in characters"
        covered[c.start:c.end] = b"\x01" * (c.end - c.start)
    if chunks:  # a window that starts inside a word (no space near) reads that word in a few more pieces
        counts = [len(e.ids) for e in tokenizer().encode_batch([c.text for c in chunks], add_special_tokens=False)]
        assert max(counts) <= chunker.max_tokens + 4, "a chunk fits the embedder's budget"
    lost = [ch for ch, cov in zip(text, covered) if not cov and not ch.isspace()]
    assert not lost, f"text lost: {''.join(lost)[:50]!r}"
    for prev, cur in zip(chunks, chunks[1:]):
        assert cur.start > prev.start and cur.end > prev.end, "chunks advance through the text"
    per_window = pieces(text) / chunker.max_tokens + len(text) / chunker.max_chars
    segments = 1 + len(ex.sections) + len(ex.pages)
    bound = 1.5 * per_window + 1 if single_paragraph else 2 * per_window + segments
    assert len(chunks) <= bound, f"{len(chunks)} chunks for {len(text)} characters ({pieces(text)} pieces)"
    if ex.pages:
        starts = [o for o, _ in ex.pages] + [len(text)]
        for c in chunks:
            i = max(j for j, o in enumerate(starts[:-1]) if o <= c.start)
            assert c.end <= starts[i + 1], "a chunk never spans pages"
            assert (c.page, c.page_start, c.page_end) == (ex.pages[i][1], c.start - starts[i], c.end - starts[i])
    return chunks


def plain(text: str) -> Extracted:
    return Extracted(source="s", title="t", text=text, kind="text")


@FAST
@given(SINGLE_RUNS, SIZE, OVERLAP)
def test_text_without_spaces_is_cut_into_bounded_windows(text: str, size: int, overlap: int) -> None:
    ex = plain(text)
    single = "\n" not in text.strip() and not any(ch.isspace() for ch in text.strip())
    chunks = check(ex, Chunker(tokenizer(), max_tokens=size, overlap=overlap), single_paragraph=single)
    assert chunks or not text.strip()


@FAST
@given(st.one_of(SPACED, MIXED), SIZE, OVERLAP)
def test_runs_of_spaces_and_mixed_scripts(text: str, size: int, overlap: int) -> None:
    check(plain(text), Chunker(tokenizer(), max_tokens=size, overlap=overlap))


@FAST
@given(st.lists(st.one_of(SINGLE_RUNS, SPACED), min_size=1, max_size=5), SIZE)
def test_pages_keep_their_own_offsets(pages: list[str], size: int) -> None:
    text, marks = "", []
    for number, page in enumerate(pages, start=1):
        if text:
            text += "\n\n"
        marks.append((len(text), number))
        text += page
    check(Extracted(source="s", title="t", text=text, kind="pdf", pages=marks),
          Chunker(tokenizer(), max_tokens=size, overlap=4))


HEADING_LINE = st.tuples(st.integers(1, 7), st.integers(0, 3000), st.sampled_from(["", "b", " #", "##", "x #"])).map(
    lambda t: "#" * t[0] + " a" + " " * t[1] + t[2])
MARKDOWN = st.lists(st.one_of(HEADING_LINE, SPACED, st.just("```"), st.just("~~~"), st.just("===")),
                    min_size=1, max_size=12).map("\n".join)


@FAST
@given(MARKDOWN, SIZE)
def test_markdown_through_the_loader(text: str, size: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "notes.md"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))
        try:
            ex = load_path(path)
        except Exception as exc:  # only a LoadError for an empty or binary file is acceptable
            from core.errors import LoadError

            assert isinstance(exc, LoadError), exc
            return
    for start, title in ex.sections:
        assert 0 <= start <= len(ex.text) and title == " ".join(title.split()) and title
    check(ex, Chunker(tokenizer(), max_tokens=size, overlap=4))


def test_a_heading_padded_with_spaces_is_one_heading() -> None:
    text = "# a" + " " * 20_000 + "b\n\nbody\n\n## Next ##\n"
    assert headings(text) == [(0, "a b"), (text.index("## Next"), "Next")]


def test_markdown_headings_outside_code_only() -> None:
    text = ("# Title\n\n```\n# not a heading\n```\n\n~~~~\n## nor this\n~~~~\n\n    # indented code\n\n"
            "Setext\n======\n\n> ## Quoted\n\n#hashtag\n\n####### seven\n")
    assert headings(text) == [(0, "Title"), (text.index("Setext"), "Setext"), (text.index("> ##"), "Quoted")]


def test_markdown_offsets_count_every_kind_of_line_break() -> None:
    text = "intro\r\n\r\n# One\rtext\r# Two\n"
    assert headings(text) == [(text.index("# One"), "One"), (text.index("# Two"), "Two")]


DEPTH = 100_000


def test_html_nested_without_end_reads_without_recursion(tmp_path: Path) -> None:
    html = ("<html><head><title>Deep</title><meta charset='utf-8'></head><body>"
            + "<div><span><section>" * (DEPTH // 3) + "<h2>Found</h2><p>Deep <a href='/inner'>inner</a> text</p>")
    page = tmp_path / "deep.html"
    page.write_text(html, encoding="utf-8")
    assert meta_charset(page.read_bytes()) == "utf-8"
    ex = load_path(page)
    assert (ex.title, ex.text, ex.sections) == ("Deep", "Found\n\nDeep inner text", [(0, "Found")])
    assert links(html) == ["/inner"]
    check(ex, Chunker(tokenizer()))


def test_page_furniture_nested_in_itself_is_dropped() -> None:
    html = "<main>" + "<nav>" * DEPTH + "menu" + "</nav>" * DEPTH + "<h1>Body</h1><p>Kept text.</p></main>"
    ex = extract_html(html, "s")
    assert (ex.text, ex.sections) == ("Body\n\nKept text.", [(0, "Body")])
    html = "<body>" + "<div><b>" * DEPTH + "<h1>Bottom</h1><p>Deep text <a href='/x'>here</a>.</p>"
    ex = extract_html(html, "s")
    assert (ex.text, ex.sections) == ("Bottom\n\nDeep text here.", [(0, "Bottom")])
    assert links(html) == ["/x"]


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from(["<div>", "<p>", "<b>", "<h3>", "<pre>", "<nav>", "</div>", "</p>", "<br>", "<!--",
                                 "-->", "<a href='u'>", "</a>", "text", "北京", "<table><tr><td>", "<script>",
                                 "</script>", "&amp;", "&#0;", "<![CDATA[x]]>", "<!DOCTYPE html>", "\x00"]),
                max_size=400).map("".join), st.integers(0, 3000))
def test_any_tag_soup_reads(soup: str, depth: int) -> None:
    html = "<div><i>" * depth + soup
    ex = extract_html(html, "s")
    links(html)
    meta_charset(html.encode("utf-8"))
    check(ex, Chunker(tokenizer(), max_tokens=32, overlap=4))
