"""Answer text to the rich text the chat shows: light markdown, citation links, unsupported sentences.

The answer arrives as plain text with a little markdown (bold, bullets, echoed headings) and ``[n]``
markers. It is untrusted (a model may echo a document's ``<script>`` or ``<img src=http://…>``), so
every line is HTML-escaped first and only then is the small Markdown subset turned into tags; a
Markdown link or image becomes its text, never a link or a load. The grounding check gives each sentence character offsets and whether a passage supports
it, so the text is cut at those offsets and each piece is converted on its own: an unsupported
sentence keeps no marker (it must never look cited) and is drawn muted with a wavy underline and
a small "unsupported" tag whose tooltip says why. Markers become ``cite:n`` links only for numbers
the finished answer actually cites; while streaming nothing is a link, because the streamed
markers may still be corrected.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass

from desktop.services import SentenceView, parse_markers

UNSUPPORTED_TIP = "No passage supports this sentence"
UNSUPPORTED_HREF = "unsupported:"

#: A bracket that may be a marker; which numbers it names is the engine's one grammar (``parse_markers``).
_BRACKET = re.compile(r"\[[\d\s,;\-–and]{1,60}\](?!\()")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])")
_CODE = re.compile(r"`([^`]+)`")
_STRIKE = re.compile(r"~~(.+?)~~")
#: ``[text](url)`` and ``![alt](src)``: shown as their text; nothing is fetched or linked.
_LINK = re.compile(r"(!?)\[([^\]\n]{1,300})\]\(\s*([^)\s]{0,2000})(?:\s+[^)]*)?\)")
_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_QUOTE = re.compile(r"^\s{0,3}(&gt;\s?)+")


@dataclass(frozen=True)
class Colours:
    """Taken from the palette by the widget, so light and dark themes both read."""

    muted: str = "#6b7280"
    tint: str = "#fdf3d7"
    warn: str = "#b7791f"


def _link_text(m: re.Match[str]) -> str:
    image, text, url = m.group(1), m.group(2), m.group(3)
    if image:
        return text
    return text if not url or url == text else f"{text} ({url})"


def _inline(escaped: str) -> str:
    escaped = _CODE.sub(lambda m: f"<code>{m.group(1)}</code>", escaped)
    escaped = _LINK.sub(_link_text, escaped)
    escaped = _BOLD.sub(lambda m: f"<b>{m.group(1) or m.group(2)}</b>", escaped)
    escaped = _STRIKE.sub(lambda m: f"<s>{m.group(1)}</s>", escaped)
    return _ITALIC.sub(lambda m: f"<i>{m.group(1)}</i>", escaped)


class _Blocks:
    """Block state that runs across the pieces of one answer: inside a code fence or not."""

    def __init__(self) -> None:
        self.in_code = False


def _markers(text: str, cited: set[int] | None, keep: bool) -> str:
    """Replace markers in already escaped text: links for cited numbers, nothing for the rest."""
    def repl(m: re.Match[str]) -> str:
        nums = parse_markers(m.group(0))
        if not nums:
            return m.group(0)
        if not keep:
            return ""
        if cited is None:  # streaming: show what the model wrote, link nothing yet
            return m.group(0)
        return "".join(f"<a href='cite:{n}'>[{n}]</a>" for n in nums if n in cited)

    return _BRACKET.sub(repl, text)


def _piece(text: str, at_line_start: bool, cited: set[int] | None, keep_markers: bool,
           blocks: _Blocks | None = None) -> str:
    """One run of text (a sentence or the gap between two) with its line structure."""
    state = blocks or _Blocks()
    out: list[str] = []
    for i, line in enumerate(text.split("\n")):
        starts_line = at_line_start or i > 0
        bold_line = False
        if starts_line and _FENCE.match(line):
            state.in_code = not state.in_code
            continue  # the fence itself is not shown
        if state.in_code:
            out.append(f"<code>{html.escape(line, quote=False)}</code>")
            continue
        if starts_line:
            if _RULE.match(line):
                out.append("")
                continue
            h = _HEADING.match(line)
            if h:
                line, bold_line = h.group(1), True
            else:
                line = _BULLET.sub(lambda m: m.group(1) + "• ", line)
        escaped = html.escape(line, quote=False)
        if starts_line:
            escaped = _QUOTE.sub("│ ", escaped)
        body = _inline(_markers(escaped, cited, keep_markers))
        if not keep_markers:
            body = re.sub(r"\s+([.,;:!?])", r"\1", body)  # "claim [3]." without its marker reads "claim."
        out.append(f"<b>{body}</b>" if bold_line and body else body)
    return "<br>".join(out)


def _segments(text: str, sentences: Iterable[SentenceView]) -> list[tuple[int, int, bool]]:
    """(start, end, supported) runs covering the whole text, in order, never overlapping."""
    runs: list[tuple[int, int, bool]] = []
    at = 0
    for s in sorted(sentences, key=lambda s: s.start):
        if s.supported or s.end <= at:
            continue
        start = max(s.start, at)
        if start > at:
            runs.append((at, start, True))
        runs.append((start, s.end, False))
        at = s.end
    if at < len(text):
        runs.append((at, len(text), True))
    return runs


def render_answer(text: str, sentences: Iterable[SentenceView] = (), cited: set[int] | None = None,
                  colours: Colours = Colours()) -> str:  # noqa: B008 - a frozen default
    """Rich text for QLabel. ``cited=None`` means still streaming: markers shown, nothing linked."""
    parts: list[str] = []
    unsupported = 0
    blocks = _Blocks()
    for start, end, supported in _segments(text, list(sentences)):
        at_line_start = start == 0 or text[start - 1] == "\n"
        chunk = text[start:end]
        if supported:
            parts.append(_piece(chunk, at_line_start, cited, keep_markers=True, blocks=blocks))
            continue
        lead = chunk[: len(chunk) - len(chunk.lstrip())]
        body = _piece(chunk.strip(), at_line_start and not lead, cited, keep_markers=False, blocks=blocks)
        if not body:
            continue
        parts.append(_piece(lead, at_line_start, cited, keep_markers=False, blocks=blocks))
        parts.append(
            f"<span style='color:{colours.muted}; background-color:{colours.tint}; text-underline-style:wave'>"
            f"{body}</span>"
            f"<sup><a href='{UNSUPPORTED_HREF}{unsupported}' style='color:{colours.warn}; text-decoration:none'>"
            "&nbsp;unsupported</a></sup>"
        )
        unsupported += 1
    return "".join(parts)


def plain_answer(text: str, sentences: Iterable[SentenceView] = (), cited: set[int] | None = None,
                 sources: Iterable[tuple[int, str]] = ()) -> str:
    """The answer as the user copies it: the text as shown (an unsupported sentence without its
    marker, markers only for numbers the answer cites), then one line per cited source."""
    def markers(piece: str, keep: bool) -> str:
        def repl(m: re.Match[str]) -> str:
            nums = parse_markers(m.group(0))
            if not nums:
                return m.group(0)
            kept = [n for n in nums if keep and (cited is None or n in cited)]
            return "".join(f"[{n}]" for n in kept)

        out = _BRACKET.sub(repl, piece)
        return out if keep else re.sub(r"[ \t]+([.,;:!?])", r"\1", out)

    body = "".join(markers(text[a:b], supported) for a, b, supported in _segments(text, list(sentences)))
    body = re.sub(r"[ \t]+\n", "\n", body).strip()
    lines = [f"[{n}] {title}" for n, title in sources]
    return body + ("\n\nSources:\n" + "\n".join(lines) if lines else "")


def plain_snippet(text: str, limit: int = 160) -> str:
    """A one-line preview of a passage as plain text: headings folded into the text, Markdown marks
    (emphasis, code ticks, links, bullets, quotes, fences) dropped. The caller escapes it."""
    text = re.sub(r"(?m)^[ \t]{0,3}#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", r"\1 —", text)
    text = re.sub(r"(?m)^[ \t]{0,3}(```|~~~).*$|^[ \t]{0,3}([-*_])([ \t]*\2){2,}[ \t]*$", " ", text)
    text = re.sub(r"(?m)^[ \t]*(>[ \t]?)+|^[ \t]*[-*+][ \t]+", "", text)
    text = _LINK.sub(lambda m: m.group(2), text)
    text = _BOLD.sub(lambda m: m.group(1) or m.group(2), text)
    text = _STRIKE.sub(lambda m: m.group(1), text)
    text = _ITALIC.sub(lambda m: m.group(1), text)
    text = _CODE.sub(lambda m: m.group(1), text)
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
