"""Typed engine settings, saved as JSON in the data folder.

Window state lives elsewhere (QSettings in the desktop app); this file holds only what changes
what the engine does, so the CLI and the window agree on it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"
APP_NAME = "Footnote"


DATA_DIR_ENV = "FOOTNOTE_DATA_DIR"
#: Where the folder chosen in the window's Settings is remembered: a Qt-free file in the platform's
#: config folder, so the CLI reads the same choice (QSettings would be the window's alone).
DATA_DIR_POINTER = "data_dir.txt"


def data_dir_pointer() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / DATA_DIR_POINTER


def chosen_data_dir() -> Path | None:
    """The folder chosen in Settings, if any (an unreadable pointer counts as no choice)."""
    try:
        text = data_dir_pointer().read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return Path(text).expanduser() if text else None


def choose_data_dir(path: Path | None) -> None:
    """Remember ``path`` as the data folder for the window and the CLI alike (None: the default)."""
    pointer = data_dir_pointer()
    if path is None:
        pointer.unlink(missing_ok=True)
        return
    pointer.parent.mkdir(parents=True, exist_ok=True)
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(str(Path(path).expanduser().absolute()) + "\n", encoding="utf-8")
    os.replace(tmp, pointer)
    log.info("data folder chosen path=%s", path)


def resolve_data_dir(explicit: Path | str | None = None) -> Path:
    """The one rule the window and the CLI both follow: ``--data-dir``, then ``FOOTNOTE_DATA_DIR``,
    then the folder chosen in Settings, then the platform's user data folder."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    chosen = chosen_data_dir()
    if chosen is not None:
        return chosen
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_data_dir() -> Path:
    """The data folder when none is given on the command line (``resolve_data_dir``)."""
    return resolve_data_dir()


@dataclass
class Settings:
    """Engine settings. Each field's ``description`` metadata is shown in the settings dialog."""

    chunk_tokens: int = field(default=200, metadata={"description": "Largest chunk, in embedder word pieces."})
    chunk_overlap: int = field(default=32, metadata={"description": "Word pieces shared by split neighbours."})
    top_k: int = field(default=5, metadata={"description": "Passages retrieved for a question."})
    dense_weight: float = field(default=0.6, metadata={"description": "Weight of meaning vs keywords in search."})
    qdrant_url: str = field(default="", metadata={"description": "Qdrant server URL; empty means local mode."})
    vector_store: str = field(default="auto", metadata={
        "description": "Where a new library keeps its vectors: auto (Qdrant local mode, moved to Qdrant Edge "
                       "past 20,000 passages), local (always local mode) or edge (Qdrant Edge from the start)."})
    keyword_search: str = field(default="auto", metadata={
        "description": "Keyword side of hybrid search: fts5 (SQLite), qdrant (BM25 sparse vectors fused by "
                       "Qdrant's Query API), or auto (qdrant on a server, fts5 in local mode). Changing it "
                       "needs a re-import."})
    embed_threads: int = field(default=0, metadata={"description": "Embedding threads; 0 means all cores."})
    parse_memory_mb: int = field(default=2048, metadata={
        "description": "Most memory one file or page may take while it is read, in MB (the reader is stopped past it)."})
    parse_timeout_s: float = field(default=120.0, metadata={
        "description": "Longest time reading one file or page may take, in seconds (the reader is stopped past it)."})
    # Generation
    model_path: str = field(default="", metadata={"description": "GGUF model file; empty means the bundled one."})
    n_gpu_layers: str = field(default="auto", metadata={"description": "GPU layers: auto, all, 0 or a number."})
    n_ctx: int = field(default=4096, metadata={"description": "Context window in tokens."})
    n_threads: int = field(default=0, metadata={"description": "Generation threads; 0 means physical cores."})
    temperature: float = field(default=0.1, metadata={"description": "Sampling temperature."})
    repeat_penalty: float = field(default=1.05, metadata={"description": "Penalty on recently used tokens (1 = none)."})
    max_answer_tokens: int = field(default=256, metadata={"description": "Longest answer in tokens."})
    answer_passages: int = field(default=3, metadata={
        "description": "Most passages put in front of the model; each costs prompt-reading time."})
    answerable_min: float | None = field(default=None, metadata={
        "description": "The local model's own P(the sources state the answer) below which Footnote abstains; "
                       "empty means the threshold measured for the model (0.5 for models not measured)."})
    grounded_min: float | None = field(default=None, metadata={
        "description": "Below this P(the sources state the answer), an answer with a sentence that no passage "
                       "supports becomes an abstention; empty means the value measured for the model "
                       "(none for models not measured)."})
    confident_min: float | None = field(default=None, metadata={
        "description": "After the answer is written, the local model's P(the sources state the answer) minus "
                       "its measured weight times the share of answer words it was unsure of must reach this, "
                       "or Footnote abstains; empty means the value measured for the model (none for models "
                       "not measured)."})
    backend: str = field(default="local", metadata={"description": "Answer backend: local, auto or openai."})
    openai_base_url: str = field(default="https://api.openai.com/v1", metadata={"description": "OpenAI-compatible base URL."})
    openai_model: str = field(default="gpt-4o-mini", metadata={"description": "Remote model name."})
    first_token_timeout_s: float = field(default=20.0, metadata={"description": "In auto mode, wait this long for the local model's first token."})
    min_relevance: float = field(default=0.25, metadata={"description": "Below this dense score nothing is relevant and Footnote abstains."})
    blocked_terms: list[str] = field(default_factory=list, metadata={"description": "Words that are refused in questions and answers."})
    blocked_topics: list[str] = field(default_factory=list, metadata={"description": "Topics that are refused in questions and answers."})
    api_enabled: bool = field(default=False, metadata={"description": "Run the local API (OpenAI-compatible) inside the window."})
    api_port: int = field(default=5151, metadata={"description": "Port of the local API on 127.0.0.1."})

    @classmethod
    def load(cls, data_dir: Path) -> Settings:
        """Read the settings file; unknown keys are ignored and a broken file falls back to defaults."""
        path = data_dir / SETTINGS_FILE
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("settings unreadable path=%s error=%s; using defaults", path, exc)
            return cls()
        if not isinstance(raw, dict):
            log.warning("settings unreadable path=%s error=not a JSON object; using defaults", path)
            return cls()
        values, problems = checked_values(cls, raw)
        for problem in problems:
            log.warning("settings field reset path=%s %s", path, problem)
        return cls(**values)

    def save(self, data_dir: Path) -> None:
        """Write atomically so a crash never leaves half a settings file."""
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / SETTINGS_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(dataclasses.asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, path)

    def keyword_backend(self, store_kind: str = "") -> str:
        """Which keyword index ``auto`` means for a library on ``store_kind``: Qdrant's sparse index is
        fast on Qdrant Edge and a server, but local mode scores sparse vectors in a Python loop over
        every point (about 30 ms per 1.3k chunks)."""
        if self.keyword_search in ("fts5", "qdrant"):
            return self.keyword_search
        return "qdrant" if self.qdrant_url or store_kind in ("edge", "server") else "fts5"

    def fingerprint(self) -> dict[str, Any]:
        """Fields that change an answer; the answer cache keys on them."""
        keys = ("top_k", "dense_weight", "n_ctx", "temperature", "max_answer_tokens", "repeat_penalty",
                "answer_passages", "answerable_min", "grounded_min", "confident_min",
                "backend", "openai_model", "openai_base_url", "min_relevance", "chunk_tokens", "chunk_overlap",
                "blocked_terms", "blocked_topics", "n_gpu_layers", "keyword_search")
        return {k: getattr(self, k) for k in keys}


# -- validation of a hand-edited settings file ------------------------------------------------------


def _fits(hint: Any, value: Any) -> tuple[bool, Any]:
    """Whether ``value`` (from JSON) fits the field type ``hint``, and the value to use."""
    import math
    import types
    import typing

    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            ok, out = _fits(arg, value)
            if ok:
                return True, out
        return False, None
    if hint is type(None):
        return value is None, None
    if hint is bool:
        return isinstance(value, bool), value
    if hint is int:
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        return isinstance(value, int) and not isinstance(value, bool), value
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        return ok, float(value) if ok else None
    if hint is str:
        return isinstance(value, str), value
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        if not isinstance(value, list):
            return False, None
        items = [_fits(item, v) if item is not Any else (True, v) for v in value]
        return all(ok for ok, _ in items), [v for _, v in items]
    if isinstance(hint, type):
        return isinstance(value, hint), value
    return True, value


def checked_values(cls: type[Settings], raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The known fields of ``raw`` whose values fit their types, and one line per field that does
    not (``top_k="five"``); those fall back to their defaults and the others are kept."""
    import typing

    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for f in dataclasses.fields(cls):
        if f.name not in raw:
            continue
        ok, value = _fits(hints.get(f.name, Any), raw[f.name])
        if ok:
            values[f.name] = value
        else:
            shown = json.dumps(raw[f.name], ensure_ascii=False)
            shown = shown if len(shown) <= 40 else shown[:37] + "..."
            hint = hints.get(f.name)
            expected = hint.__name__ if isinstance(hint, type) else str(hint)
            problems.append(f"field={f.name} value={shown} expected={expected}; using the default")
    return values, problems


def settings_problems(data_dir: Path) -> list[str]:
    """What is wrong with the settings file (empty when it is fine or absent), for ``footnote repair``."""
    path = data_dir / SETTINGS_FILE
    if not path.exists():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"the file is unreadable ({exc}); using defaults"]
    if not isinstance(raw, dict):
        return ["the file is not a JSON object; using defaults"]
    return checked_values(Settings, raw)[1]
