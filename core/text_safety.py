"""Text from documents, pages and file names, made safe to print on a terminal.

A title, a file name or a passage is input: it may hold terminal escape sequences (``ESC [ 2J``
clears the screen, ``ESC ] 0 ; ... BEL`` retitles the window, OSC 8 makes a link), C1 controls
(U+009B is a one-character CSI), a carriage return that overwrites the start of a line, bidi
overrides (U+202E shows ``txt.exe`` as ``exe.txt``), or a newline that fakes a line of our own
output. ``printable`` escapes every one of them as visible ``\\xNN``/``\\uNNNN`` text, so nothing
is lost and nothing is interpreted. Escaping the introducer (ESC, BEL, C1) is enough to make a
whole sequence inert: what follows is ordinary text.

``json_safe`` does the same for ``--json`` output, where ``json.dumps`` already escapes C0 but,
with ``ensure_ascii=False``, passes C1, bidi and line separators through raw.
"""

from __future__ import annotations

import re

# Bidi embeddings, overrides, isolates and marks; the Arabic letter mark; line and paragraph separators.
_INVISIBLE = "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_SINGLE_LINE = re.compile(f"[\x00-\x1f\x7f-\x9f{_INVISIBLE}]")  # all of C0, DEL, C1
_MULTILINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_INVISIBLE}]")  # the same, but tab and newline stay
_JSON_RAW = re.compile(f"[\x7f-\x9f{_INVISIBLE}]")  # what json.dumps leaves raw
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group(0)
    named = _NAMED.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: object, *, multiline: bool = False) -> str:
    """``text`` with every control character, escape introducer and bidi control shown as an escape.

    Single-line fields (titles, sources, file names, errors) escape tabs and newlines too, so one
    item is always one line. ``multiline`` (answers, passages) keeps newlines and tabs."""
    s = text if isinstance(text, str) else str(text)
    return (_MULTILINE if multiline else _SINGLE_LINE).sub(_escape, s)


def json_safe(dumped: str) -> str:
    """A ``json.dumps(..., ensure_ascii=False)`` result with the characters a terminal or an editor
    may act on written as ``\\uXXXX`` escapes: the same JSON value, nothing raw left to interpret."""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group(0)):04x}", dumped)
