"""The plain records widgets see: documents, citations, finished answers, models, downloads.

They are frozen snapshots built in workers from the engine's own records, so a widget never holds
an engine object and a record outlives the document or model it describes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from core.documents import display_title


@dataclass(frozen=True)
class DocumentView:
    id: str
    source: str
    title: str
    kind: str
    status: str  # importing | ready | failed
    chunks: int = 0
    error: str = ""
    done: int = 0  # chunks embedded so far, while importing
    total: int = 0


@dataclass(frozen=True)
class CitationView:
    """One cited passage: a frozen snapshot from the answer, so it outlives its document."""

    n: int
    chunk_id: str
    document_id: str
    source: str
    title: str
    section: str
    page: int | None
    text: str
    start: int = 0
    end: int = 0
    before: str = ""  # the document's text just before the passage, when the library still has it
    after: str = ""
    page_start: int | None = None  # a PDF passage's PDFium char range on its page (when the library has it)
    page_end: int | None = None


@dataclass(frozen=True)
class SentenceView:
    """One sentence of a finished answer: offsets into ``AnswerResult.text`` and its support."""

    text: str
    start: int
    end: int
    citations: tuple[int, ...] = ()
    supported: bool = True


@dataclass(frozen=True)
class AnswerResult:
    """What the chat draws for a finished answer. ``sentences`` may be empty (old answers): then the
    whole text counts as one supported block."""

    text: str
    citations: list[CitationView]
    backend: str = ""
    timings: dict[str, Any] = field(default_factory=dict)
    stopped: bool = False
    abstained: bool = False
    refused: bool = False
    stop_reason: str | None = None  # None | user | repetition | length
    sentences: list[SentenceView] = field(default_factory=list)
    suggestions: list[CitationView] = field(default_factory=list)  # an abstention's closest passages
    scope: list[str] = field(default_factory=list)  # document ids the answer was limited to
    mode: str = "question"  # question | summary
    model: str = ""
    abstain_reason: str = ""  # why an abstention abstained (``core.answer.types.Answer.abstain_reason``)

    @property
    def unsupported(self) -> list[str]:
        return [s.text for s in self.sentences if not s.supported]


def _getter(obj: Any) -> Callable[..., Any]:
    """Read a field of an engine record or of its dict form the same way."""
    def get(key: str, default: Any = None) -> Any:
        return obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)

    return get


def _sentences(items: Any, text: str) -> list[SentenceView]:
    out: list[SentenceView] = []
    for s in items or []:
        g = _getter(s)
        start, end = int(g("start", 0) or 0), int(g("end", 0) or 0)
        if not 0 <= start <= end <= len(text):
            continue  # offsets that do not fit the text would mark the wrong words
        out.append(SentenceView(str(g("text", "") or text[start:end]), start, end,
                                tuple(int(n) for n in (g("citations", None) or [])), bool(g("supported", True))))
    return out


def result_from_answer(answer: Any, *, fallback_text: str = "", stopped: bool = False) -> AnswerResult:
    """An ``core.answer.Answer`` (or anything shaped like it) as the record the chat draws."""
    g = _getter(answer)
    text = str(g("answer", None) or fallback_text or "")
    stop_reason = g("stop_reason", None)
    return AnswerResult(
        text=text,
        citations=[citation_from(c, i) for i, c in enumerate(g("citations", None) or [], start=1)],
        backend=str(g("backend", "") or ""),
        timings=dict(g("timings", None) or {}),
        stopped=bool(g("stopped", False)) or stopped,
        abstained=bool(g("abstained", False)),
        refused=bool(g("refused", False)),
        stop_reason=str(stop_reason) if stop_reason else ("user" if stopped else None),
        sentences=_sentences(g("sentences", None), text),
        suggestions=[dataclasses.replace(citation_from(c, i), n=0)
                     for i, c in enumerate(g("suggestions", None) or [], start=1)],
        scope=[str(d) for d in (g("scope", None) or [])],
        mode=str(g("mode", "question") or "question"),
        model=str(g("model", "") or ""),
        abstain_reason=str(g("abstain_reason", "") or ""),
    )


def result_from_message(message: Any) -> AnswerResult:
    """A stored assistant message. It keeps the texts of its unsupported sentences, not their
    offsets, so they are found again in the text; the rest of the answer counts as supported."""
    text = str(getattr(message, "content", "") or "")
    sentences: list[SentenceView] = []
    at = 0
    for piece in getattr(message, "unsupported", None) or []:
        i = text.find(piece, at)
        if i < 0:
            i = text.find(piece)
        if i < 0 or not piece:
            continue
        sentences.append(SentenceView(piece, i, i + len(piece), (), False))
        at = i + len(piece)
    sentences.sort(key=lambda s: s.start)
    base = result_from_answer({
        "answer": text,
        "citations": getattr(message, "citations", None) or [],
        "backend": getattr(message, "backend", ""),
        "abstained": getattr(message, "abstained", False),
        "stop_reason": getattr(message, "stop_reason", None),
        "suggestions": getattr(message, "suggestions", None) or [],
        "model": (getattr(message, "meta", None) or {}).get("model", ""),
        "abstain_reason": (getattr(message, "meta", None) or {}).get("abstain_reason", ""),
    })
    return dataclasses.replace(base, sentences=sentences, stopped=bool(base.stop_reason))


@dataclass(frozen=True)
class ModelView:
    """A row of the model manager."""

    id: str
    name: str
    file: str
    size_bytes: int
    ram_gb: float
    licence: str
    context: int
    pick_when: str
    source: str  # bundled | catalog | local
    installed: bool
    in_use: bool
    default: bool
    path: str = ""


@dataclass(frozen=True)
class ModelStatus:
    """Which model answers, for the status bar: its name, size, and whether llama.cpp offloads it."""

    name: str
    size_bytes: int
    gpu: bool | None  # None: llama-cpp-python is missing
    path: str = ""
    backend: str = "local"

    def text(self) -> str:
        if self.backend == "openai":
            return f"{self.name} · OpenAI-compatible server"
        where = "GPU" if self.gpu else "CPU"
        size = f" · {human_bytes(self.size_bytes)}" if self.size_bytes else ""
        return f"{self.name}{size} · {where}"


@dataclass(frozen=True)
class DownloadView:
    done_bytes: int
    total_bytes: int
    bytes_per_s: float
    eta_s: float | None

    def text(self) -> str:
        total = f" of {human_bytes(self.total_bytes)}" if self.total_bytes else ""
        speed = f" · {human_bytes(int(self.bytes_per_s))}/s" if self.bytes_per_s else ""
        left = f" · {human_duration(self.eta_s)} left" if self.eta_s is not None and self.bytes_per_s else ""
        return f"{human_bytes(self.done_bytes)}{total}{speed}{left}"


@dataclass(frozen=True)
class AboutInfo:
    version: str
    licences: str
    data_dir: str


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit in ("B", "KB") else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"


@dataclass(frozen=True)
class ImportSummary:
    imported: int
    unchanged: int
    failed: list[str]  # one full message per failed item
    cancelled: bool
    seconds: float
    skipped: list[str] = field(default_factory=list)  # not imported on purpose, one message each

    def text(self) -> str:
        parts = [f"{self.imported} imported"]
        if self.unchanged:
            parts.append(f"{self.unchanged} unchanged")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.failed:
            parts.append(f"{len(self.failed)} failed")
        head = "Import cancelled: " if self.cancelled else "Import finished: "
        return head + ", ".join(parts)


@dataclass(frozen=True)
class KeyInfo:
    stored: bool
    backend: str
    usable_keyring: bool
    env_present: bool
    message: str


def document_view(d: Any) -> DocumentView:
    """A library record as the window shows it: a placeholder title gives way to the file name."""
    return DocumentView(d.id, d.source, display_title(d.title, d.source), d.kind, d.status, d.chunks, d.error)


def citation_from(obj: Any, n: int | None = None) -> CitationView:
    """Accept the answerer's citation records (``core.conversations.Citation``) or a search hit."""
    g = _getter(obj)
    return CitationView(
        n=int(g("n", n or 0) or (n or 0)),
        chunk_id=str(g("chunk_id", None) or g("point_id", "") or ""),
        document_id=str(g("document_id", "") or ""),
        source=str(g("source", "") or ""),
        title=display_title(str(g("title", "") or ""), str(g("source", "") or "")),
        section=str(g("section", "") or ""),
        page=g("page", None),
        text=str(g("text", "") or ""),
        start=int(g("start", 0) or 0),
        end=int(g("end", 0) or 0),
        page_start=_int_or_none(g("page_start", None)),
        page_end=_int_or_none(g("page_end", None)),
    )


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class PageView:
    """One PDF page drawn in a worker, ready to paint: ``image`` is a ``QImage`` and ``boxes`` the
    passage's highlight rectangles (left, top, right, bottom) in its pixels."""

    source: str
    page: int  # 1-based
    pages: int
    scale: float
    image: Any  # QImage (a worker may build one; only the GUI thread paints it)
    boxes: tuple[tuple[float, float, float, float], ...] = ()
    char_range: tuple[int, int] | None = None


@dataclass(frozen=True)
class DocumentTextView:
    """A document's stored text (rebuilt from its passages) and where the cited passage is in it;
    ``start`` is -1 when the passage was not found in it. ``clipped``: a window of a long text."""

    text: str
    start: int
    end: int
    clipped: bool = False


@dataclass(frozen=True)
class SourceView:
    """What the source viewer shows for a citation: the page of a PDF that is still on disk, or
    the document's whole stored text, with a note when the preferred view was not possible."""

    citation: CitationView
    kind: str
    page: PageView | None = None
    text: DocumentTextView | None = None
    note: str = ""  # e.g. "report.pdf: the file is no longer there …; showing the stored text"
    live_url: str = ""  # a web page's address, for the link to the live page
