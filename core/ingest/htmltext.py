"""Main text out of HTML: drop page furniture, keep headings as section titles."""

from __future__ import annotations

import re
from collections.abc import Iterator

from bs4 import BeautifulSoup
from bs4.element import Comment, Declaration, Doctype, NavigableString, PageElement, ProcessingInstruction, Tag

from core.documents import Extracted, is_placeholder_title

DROP = ("script", "style", "nav", "header", "footer", "aside", "noscript", "template", "svg", "form",
        "iframe", "button", "select", "canvas", "object")
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
BLOCKS = {"p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "pre", "blockquote",
          "table", "tr", "td", "th", "thead", "tbody", "figure", "figcaption", "br", "hr", "body", "html",
          "address", "details", "summary"}
_WS = re.compile(r"\s+")
_SKIP = (Comment, Declaration, Doctype, ProcessingInstruction)  # markup, not text


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0
        self.sections: list[tuple[int, str]] = []
        self._inline: list[str] = []

    def _emit(self, text: str) -> None:
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        self.parts.append(text)
        self.length += len(text)

    def flush(self) -> None:
        text = _WS.sub(" ", "".join(self._inline)).strip()
        self._inline = []
        if text:
            self._emit(text)

    def heading(self, text: str) -> None:
        self.flush()
        text = _WS.sub(" ", text).strip()
        if text:
            self.sections.append((self.length + (2 if self.parts else 0), text))
            self._emit(text)

    def pre(self, text: str) -> None:
        self.flush()
        text = text.strip("\n")
        if text.strip():
            self._emit(text)

    def walk(self, root: Tag) -> None:
        """Visit ``root``'s descendants in document order with an explicit stack (no recursion), so
        a page nested a hundred thousand levels deep reads like a flat one."""
        stack: list[tuple[Iterator[PageElement], bool]] = [(iter(root.children), False)]
        while stack:
            children, is_block = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                if is_block:
                    self.flush()
                continue
            if isinstance(child, _SKIP):
                continue
            if isinstance(child, NavigableString):
                self._inline.append(str(child))
            elif isinstance(child, Tag):
                name = child.name.lower()
                if name in HEADINGS:
                    self.heading(child.get_text(" "))
                elif name == "pre":
                    self.pre(child.get_text())
                else:
                    block = name in BLOCKS
                    if block:
                        self.flush()
                    stack.append((iter(child.children), block))


def extract_html(html: str, source: str, kind: str = "html") -> Extracted:
    """Parse HTML into text with section offsets. The title is ``<title>``, else the first heading."""
    soup = BeautifulSoup(html, "html.parser")
    title_tag = soup.find("title")
    title = _WS.sub(" ", title_tag.get_text()).strip() if title_tag else ""
    for tag in soup.find_all(DROP):
        if not tag.decomposed:  # a dropped tag inside a dropped tag went with its parent
            tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    builder = _Builder()
    if isinstance(root, Tag):
        builder.walk(root)
    builder.flush()
    if is_placeholder_title(title) and builder.sections:
        title = builder.sections[0][1]
    return Extracted(source=source, title=title, text="".join(builder.parts), kind=kind, sections=builder.sections)


def links(html: str) -> list[str]:
    """Every ``href`` on the page, in document order (the crawler resolves and filters them)."""
    soup = BeautifulSoup(html, "html.parser")
    return [str(a["href"]) for a in soup.find_all("a", href=True)]


def meta_charset(head: bytes) -> str | None:
    """The charset a page declares in ``<meta>``, read from its first bytes."""
    m = re.search(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-:.]+)""", head[:4096], re.I)
    return m.group(1).decode("ascii", "ignore") if m else None
