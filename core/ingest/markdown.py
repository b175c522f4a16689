"""Markdown structure: where each heading starts, read with a CommonMark block parser.

markdown-it-py's block pass is a linear scan of lines, so a hostile line (``# a`` followed by
thousands of spaces) costs what its length costs, and headings inside fenced or indented code,
HTML blocks and the like are not taken for headings. ATX (``# Title``) and setext (``Title`` over
``===``) headings both become sections. Inline parsing is switched off: only block structure matters
here, and the heading's own source text is its section name.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_NEWLINE = re.compile(r"\r\n?|\n")  # the line breaks markdown-it-py counts lines by
_WS = re.compile(r"\s+")
MAX_NESTING = 20  # block quotes and lists deeper than this stay plain text (CommonMark preset's limit)


@lru_cache(maxsize=1)
def _parser() -> Any:
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"maxNesting": MAX_NESTING})
    md.disable(["inline", "text_join"])
    return md


def _line_starts(text: str) -> list[int]:
    return [0, *(m.end() for m in _NEWLINE.finditer(text))]


def headings(text: str) -> list[tuple[int, str]]:
    """(offset of the heading's first line in ``text``, heading text) for each heading, in order."""
    tokens = _parser().parse(text)
    starts: list[int] | None = None
    out: list[tuple[int, str]] = []
    for i, tok in enumerate(tokens):
        if tok.type != "heading_open" or tok.map is None or i + 1 >= len(tokens):
            continue
        title = _WS.sub(" ", tokens[i + 1].content).strip()
        if not title:
            continue
        if starts is None:
            starts = _line_starts(text)
        line = tok.map[0]
        out.append((starts[line] if line < len(starts) else len(text), title))
    return out
