"""A conversation exported with its sources: Markdown for people, JSON for programs.

Each answer cites its own numbered passages. An export lists every cited passage once for the
whole conversation (title, page, the quoted passage, path or URL) and renumbers the answers'
``[n]`` markers to that list, so a reader of the file can follow any marker to its source.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from core.answer.citations import MARKER, expand_group
from core.conversations import Citation, Conversation, Message
from core.errors import FootnoteError

FORMATS = ("md", "json")


def _key(c: Citation) -> tuple[str, str, int | None, str]:
    return (c.chunk_id or c.text, c.source, c.page, c.text)


class _Sources:
    """The conversation's cited passages, each numbered once in order of first citation."""

    def __init__(self) -> None:
        self.items: list[Citation] = []
        self._numbers: dict[tuple[str, str, int | None, str], int] = {}

    def number(self, c: Citation) -> int:
        key = _key(c)
        if key not in self._numbers:
            self.items.append(c)
            self._numbers[key] = len(self.items)
        return self._numbers[key]


def _renumber(text: str, mapping: dict[int, int]) -> str:
    """Rewrite ``[n]`` markers through ``mapping`` (answer-local -> conversation-wide)."""

    def fix(m: re.Match[str]) -> str:
        nums = [mapping[n] for n in expand_group(m.group(1)) if n in mapping]
        if not nums:
            return m.group(0)
        return "".join(f"[{n}]" for n in dict.fromkeys(nums))

    return MARKER.sub(fix, text)


def _turns(messages: list[Message], sources: _Sources) -> list[dict[str, Any]]:
    turns: list[dict[str, Any]] = []
    for m in messages:
        mapping = {c.n: sources.number(c) for c in m.citations}
        turn: dict[str, Any] = {
            "role": m.role,
            "text": _renumber(m.content, mapping) if m.role == "assistant" else m.content,
            "created": m.created,
        }
        if m.role == "assistant":
            turn["sources"] = sorted(set(mapping.values()))
            turn["abstained"] = m.abstained
            turn["unsupported"] = m.unsupported
            if m.backend:
                turn["backend"] = m.backend
        turns.append(turn)
    return turns


def as_json(conv: Conversation, messages: list[Message]) -> dict[str, Any]:
    """The conversation as one JSON object: turns with renumbered markers, and the sources."""
    sources = _Sources()
    turns = _turns(messages, sources)
    return {
        "id": conv.id,
        "title": conv.title,
        "created": conv.created,
        "updated": conv.updated,
        "turns": turns,
        "sources": [{"n": i, "title": c.title, "source": c.source, "page": c.page, "section": c.section,
                     "document_id": c.document_id, "passage": c.text}
                    for i, c in enumerate(sources.items, start=1)],
    }


def _md_escape(text: str) -> str:
    """Text from documents and models, kept literal in Markdown (no HTML, no links it did not have)."""
    text = text.replace("\\", "\\\\").replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"^([#>*+\-]|\d+\.)(\s)", r"\\\1\2", text, flags=re.M)


def _quote(text: str) -> str:
    return "\n".join("> " + line if line.strip() else ">" for line in _md_escape(text.strip()).splitlines())


def _where(c: Citation) -> str:
    if c.source.startswith(("http://", "https://")):
        return f"<{c.source}>"
    return f"`{c.source.replace('`', '')}`"


def as_markdown(conv: Conversation, messages: list[Message]) -> str:
    """The conversation as a Markdown document: each question and answer, then "Sources"."""
    data = as_json(conv, messages)
    when = _dt.datetime.fromtimestamp(conv.updated).strftime("%Y-%m-%d %H:%M")
    out = [f"# {_md_escape(conv.title or 'Conversation')}", "", f"*Exported from Footnote, last updated {when}.*", ""]
    for turn in data["turns"]:
        if turn["role"] == "user":
            out += ["## " + _md_escape(" ".join(turn["text"].split())), ""]
            continue
        text = _md_escape(turn["text"].strip())
        if turn.get("abstained"):
            text = "*Not in your documents.* " + text
        out += [text, ""]
        if turn.get("unsupported"):
            out += ["*Not supported by any passage:* " + "; ".join(_md_escape(s) for s in turn["unsupported"]), ""]
    if data["sources"]:
        out += ["## Sources", ""]
        for s in data["sources"]:
            page = f", page {s['page']}" if s["page"] is not None else ""
            section = f" — {_md_escape(s['section'])}" if s["section"] else ""
            out.append(f"{s['n']}. **{_md_escape(s['title'] or s['source'])}**{section}{page}  ")
            cite = Citation(n=s["n"], chunk_id="", document_id=s["document_id"], source=s["source"],
                            title=s["title"], section=s["section"], page=s["page"], text=s["passage"])
            out.append(f"   {_where(cite)}")
            out.append("")
            out += ["   " + line for line in _quote(s["passage"]).splitlines()]
            out.append("")
    return "\n".join(out).rstrip() + "\n"


def write_atomically(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, so a failed export never leaves half a file."""
    path = path.expanduser()
    tmp = ""
    try:
        fd, tmp = tempfile.mkstemp(prefix=".footnote-export-", dir=path.parent.resolve())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise FootnoteError(f"{path}: cannot write the export ({exc.strerror or exc})") from None


def export(conv: Conversation, messages: list[Message], fmt: str) -> str:
    import json

    if fmt == "md":
        return as_markdown(conv, messages)
    if fmt == "json":
        return json.dumps(as_json(conv, messages), ensure_ascii=False, indent=2) + "\n"
    raise ValueError(f"unknown export format {fmt!r} (use {' or '.join(FORMATS)})")
