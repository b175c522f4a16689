"""The user's models: what is available, installing from the catalog, adding a local GGUF, choosing
the one that answers, removing one.

Three kinds of model appear in one list: ``bundled`` (shipped with Footnote, never removed),
``catalog`` (downloaded into ``<data>/models/llm/`` on request) and ``local`` (a GGUF the user
already has, registered in ``<data>/models/local.json``; Footnote never deletes or writes next to
it). The choice is ``Settings.model_path``: empty for the default model, else a file path.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import models as catalog
from core import model_files, model_stamps
from core.errors import ModelError
from core.model_download import DownloadProgress, ProgressFn, download_model_file
from core.settings import Settings

log = logging.getLogger(__name__)

LOCAL_FILE = "local.json"
GGUF_MAGIC = b"GGUF"
LOCAL_PREFIX = "local:"
_DISK_MARGIN = 64 << 20  # stamps, logs and the settings file need a little room too

__all__ = ["DownloadProgress", "ModelInfo", "add_local_model", "current_model_id", "install_model",
           "list_llm_models", "remove_model", "use_model"]


@dataclass
class ModelInfo:
    id: str
    name: str
    file: str
    size_bytes: int
    sha256: str
    licence: str
    context: int
    ram_gb: float
    pick_when: str
    source: str  # "bundled" | "catalog" | "local" (and "package" for the test-only SmolLM2)
    installed: bool
    path: Path | None
    default: bool
    licence_url: str = ""


def _catalog_info(entry: dict[str, Any], data_dir: Path, default_id: str) -> ModelInfo:
    try:
        path: Path | None = model_files.entry_path(entry, data_dir)
    except ModelError:
        path = None  # a package that is not installed
    installed = path is not None and path.is_file()
    if installed and path is not None and entry.get("source") != "package":
        stamp = model_stamps.read_stamp(path)
        installed = stamp is not None and stamp.matches(path) and stamp.sha256 == entry["sha256"]
    return ModelInfo(
        id=entry["id"], name=entry["name"], file=entry["file"], size_bytes=int(entry["size_bytes"]),
        sha256=entry["sha256"], licence=entry["licence"], context=int(entry.get("context", 0)),
        ram_gb=float(entry.get("ram_gb", 0.0)), pick_when=entry.get("pick_when", ""),
        source=entry.get("source", "catalog"), installed=installed, path=path if installed else None,
        default=entry["id"] == default_id, licence_url=entry.get("licence_url", ""),
    )


def _local_info(item: dict[str, Any], data_dir: Path) -> ModelInfo:
    path = Path(item["path"])
    try:
        size = path.stat().st_size
    except OSError:
        size = 0
    return ModelInfo(
        id=item["id"], name=item.get("name") or path.stem, file=path.name, size_bytes=size,
        sha256=model_stamps.known_sha256(path, model_files.identity_cache_dir(data_dir)) or "",
        licence="see the model's own licence", context=0, ram_gb=round(size / 1e9 + 0.7, 1),
        pick_when="Your own GGUF file.", source="local", installed=path.is_file(), path=path, default=False,
    )


# -- the local registry ------------------------------------------------------------------------

def _local_path(data_dir: Path) -> Path:
    return data_dir / "models" / LOCAL_FILE


def _read_local(data_dir: Path) -> list[dict[str, Any]]:
    try:
        raw = json.loads(_local_path(data_dir).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        log.warning("local model list unreadable path=%s error=%s", _local_path(data_dir), exc)
        return []
    items = raw.get("models", []) if isinstance(raw, dict) else []
    return [i for i in items if isinstance(i, dict) and "id" in i and "path" in i]


def _write_local(data_dir: Path, items: list[dict[str, Any]]) -> None:
    path = _local_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"models": items}, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def list_llm_models(data_dir: Path, include_test: bool = False) -> list[ModelInfo]:
    """Bundled and catalog models in catalog order, then the user's local files. Cheap: installed
    means present with a matching stamp; nothing is hashed."""
    default_id = model_files.default_llm_entry()["id"]
    infos = [_catalog_info(e, data_dir, default_id)
             for e in catalog.llm_models(include_test=True)
             if include_test or not e.get("test_only") or e["id"] == default_id]
    return infos + [_local_info(i, data_dir) for i in _read_local(data_dir)]


def _find(data_dir: Path, model_id: str) -> ModelInfo | None:
    return next((m for m in list_llm_models(data_dir, include_test=True) if m.id == model_id), None)


def current_model_id(data_dir: Path, settings: Settings) -> str | None:
    """Which listed model answers with these settings (None for a file that is not in the list)."""
    if not settings.model_path:
        return str(model_files.default_llm_entry()["id"])
    chosen = _resolved(Path(settings.model_path))
    for m in list_llm_models(data_dir, include_test=True):
        if m.path is not None and _resolved(m.path) == chosen:
            return m.id
    return None


def _resolved(path: Path) -> Path:
    try:
        return path.expanduser().resolve()
    except OSError:
        return path.expanduser().absolute()


# -- install -----------------------------------------------------------------------------------

_install_locks: dict[str, threading.Lock] = {}
_install_locks_guard = threading.Lock()


@contextmanager
def _exclusive(part: Path, label: str) -> Iterator[None]:
    """One download of a file at a time, in this process and across processes (a lock file)."""
    with _install_locks_guard:
        lock = _install_locks.setdefault(str(part), threading.Lock())
    if not lock.acquire(blocking=False):
        raise ModelError(f"{label}: already being downloaded")
    lock_path = part.with_name(part.name + ".lock")
    held = False
    try:
        with lock_path.open("a") as fh:
            try:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except ImportError:  # not POSIX: the in-process lock is all we have
                pass
            except OSError:
                raise ModelError(f"{label}: already being downloaded by another Footnote process") from None
            held = True
            yield
    finally:
        if held:
            lock_path.unlink(missing_ok=True)
        lock.release()


def install_model(
    data_dir: Path,
    model_id: str,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    *,
    url: str | None = None,
    timeout: float = 30.0,
) -> Path:
    """Download a catalog model into ``<data>/models/llm/`` (resuming a ``.part``), verify it and
    stamp it; returns its path. An already installed, intact model is not downloaded again.
    ``url`` replaces the catalog's URL (a mirror, or a test server)."""
    entry = model_files.llm_entry(model_id)
    label = str(entry["name"])
    if entry.get("source", "catalog") != "catalog":
        raise ModelError(f"{model_id}: {label} comes with Footnote and is not downloaded "
                         "(run `make setup` if it is missing)")
    folder = model_files.installed_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / str(entry["file"])
    cache = model_files.identity_cache_dir(data_dir)
    if dest.exists():
        try:
            model_files.verify_model_file(dest, entry, cache_dir=cache)
            log.info("model already installed id=%s path=%s", model_id, dest)
            return dest
        except ModelError as exc:
            log.warning("installed model is damaged id=%s reason=%s; downloading again", model_id, exc)
            dest.unlink()
            model_stamps.stamp_path(dest).unlink(missing_ok=True)
    part = dest.with_name(dest.name + ".part")
    size = int(entry["size_bytes"])
    with _exclusive(part, label):
        have = part.stat().st_size if part.exists() else 0
        need = max(size - have, 0) + _DISK_MARGIN
        free = shutil.disk_usage(folder).free
        if free < need:
            raise ModelError(f"{label}: not enough disk space in {folder}: needs {need / 1e9:.1f} GB, "
                             f"{free / 1e9:.1f} GB free")
        return download_model_file(url or str(entry["url"]), dest, str(entry["sha256"]), progress, cancel,
                                   timeout, size=size, name=label)


# -- local files ---------------------------------------------------------------------------------

def add_local_model(data_dir: Path, path: Path) -> ModelInfo:
    """Register a GGUF the user already has (checked: it exists and starts with ``GGUF``)."""
    path = _resolved(Path(path))
    if not path.is_file():
        raise ModelError(f"{path}: no such model file")
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise ModelError(f"{path.name}: cannot read the file ({exc.strerror or exc})") from None
    if magic != GGUF_MAGIC:
        raise ModelError(f"{path.name}: not a GGUF model file")
    items = _read_local(data_dir)
    for item in items:
        if _resolved(Path(item["path"])) == path:
            return _local_info(item, data_dir)
    base = LOCAL_PREFIX + (re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-").lower() or "model")
    taken = {i["id"] for i in items} | {e["id"] for e in catalog.llm_models()}
    model_id, n = base, 2
    while model_id in taken:
        model_id, n = f"{base}-{n}", n + 1
    item = {"id": model_id, "path": str(path), "name": path.stem}
    _write_local(data_dir, [*items, item])
    log.info("local model added id=%s path=%s", model_id, path)
    return _local_info(item, data_dir)


# -- choose and remove ---------------------------------------------------------------------------

def use_model(data_dir: Path, settings: Settings, id_or_path: str) -> ModelInfo:
    """Make a model the one that answers: sets ``settings.model_path`` (empty for the default) and
    saves the settings. A path to a ``.gguf`` is added as a local model first."""
    info = _find(data_dir, id_or_path)
    if info is None:
        candidate = Path(id_or_path).expanduser()
        if candidate.exists() or id_or_path.lower().endswith(".gguf") or os.sep in id_or_path:
            info = add_local_model(data_dir, candidate)
        else:
            raise ModelError(f"{id_or_path}: no such model (see `footnote models list`)")
    if not info.installed or info.path is None:
        if info.source == "catalog":
            raise ModelError(f"{info.id} is not installed: install it first: footnote models install {info.id}")
        if info.source == "local":
            raise ModelError(f"{info.id}: the file {info.path} is gone; remove it with `footnote models remove {info.id}`")
        raise ModelError(f"{info.id}: the bundled model is missing: run `make setup`")
    settings.model_path = "" if info.default else str(info.path)
    settings.save(data_dir)
    log.info("model in use id=%s path=%s", info.id, settings.model_path or "(default)")
    return info


def remove_model(data_dir: Path, model_id: str) -> None:
    """Delete a downloaded catalog model, or forget a local one (its file stays). Bundled models
    cannot be removed. When the removed model was in use, the default answers again."""
    info = _find(data_dir, model_id)
    if info is None:
        raise ModelError(f"{model_id}: no such model (see `footnote models list`)")
    if info.source in ("bundled", "package"):
        raise ModelError(f"{model_id}: {info.name} comes with Footnote and cannot be removed")
    settings = Settings.load(data_dir)
    in_use = bool(settings.model_path) and info.path is not None and \
        _resolved(Path(settings.model_path)) == _resolved(info.path)
    if info.source == "local":
        _write_local(data_dir, [i for i in _read_local(data_dir) if i["id"] != model_id])
    else:
        path = model_files.entry_path(model_files.llm_entry(model_id), data_dir)
        leftovers = [path.with_name(path.name + s) for s in (".part", ".part.lock")]
        if not path.exists() and not any(p.exists() for p in leftovers):
            raise ModelError(f"{model_id} is not installed")
        in_use = bool(settings.model_path) and _resolved(Path(settings.model_path)) == _resolved(path)
        for p in (path, model_stamps.stamp_path(path), *leftovers):
            p.unlink(missing_ok=True)
    if in_use:
        settings.model_path = ""
        settings.save(data_dir)
    log.info("model removed id=%s in_use=%s", model_id, in_use)
