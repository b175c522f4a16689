"""The model catalog: which embedding model and which GGUF Footnote uses, and where they come from.

Kept as data (``catalog.json``) so that packaging, setup and the engine read one source of truth.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def load_catalog() -> dict[str, Any]:
    """Return the parsed catalog shipped beside this module."""
    text = resources.files(__name__).joinpath("catalog.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def default_model(kind: str) -> dict[str, Any]:
    """Return the catalog entry marked default for ``kind`` ("embedding" or "llm")."""
    for entry in load_catalog()["models"]:
        if entry["kind"] == kind and entry.get("default"):
            return dict(entry)
    raise KeyError(f"no default {kind} model in the catalog")
