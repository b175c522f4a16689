"""Know a model file's SHA-256 without hashing it in every process.

Hashing the 1.1 GB default model costs about 3 s here, so a file is hashed once (at install, or the
first time Footnote sees it) and the result is written down as a *stamp*: size, mtime_ns, sha256.
Later a stamp is trusted while the file's size and mtime_ns still match it; any change to either
makes Footnote hash the file again.

Stamps live beside files Footnote owns (``<file>.stamp.json`` for the bundled and the downloaded
models). A user's own GGUF never gets a sidecar: its hash goes into ``identities.json`` in the data
folder, keyed by path, size and mtime_ns. The same file catches the case where a sidecar cannot be
written (a read-only install of the packaged app).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

STAMP_SUFFIX = ".stamp.json"
IDENTITY_FILE = "identities.json"
_BLOCK = 1 << 20

_lock = threading.Lock()
# (path, size, mtime_ns) -> sha256, for files already hashed or stamp-checked in this process.
_memo: dict[tuple[str, int, int], str] = {}


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Stamp:
    size: int
    mtime_ns: int
    sha256: str

    def matches(self, path: Path) -> bool:
        """True while the file still has the size and mtime it had when it was hashed."""
        try:
            st = path.stat()
        except OSError:
            return False
        return st.st_size == self.size and st.st_mtime_ns == self.mtime_ns


def stamp_path(path: Path) -> Path:
    return path.with_name(path.name + STAMP_SUFFIX)


def read_stamp(path: Path) -> Stamp | None:
    """The sidecar stamp of ``path``, or None when there is none or it is unreadable."""
    try:
        raw = json.loads(stamp_path(path).read_text(encoding="utf-8"))
        return Stamp(int(raw["size"]), int(raw["mtime_ns"]), str(raw["sha256"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_stamp(path: Path, sha256: str) -> Stamp:
    """Record the file's current size and mtime with its hash (atomically); OSError if not writable."""
    st = path.stat()
    stamp = Stamp(st.st_size, st.st_mtime_ns, sha256)
    target = stamp_path(path)
    tmp = target.with_name(target.name + ".tmp")
    body = {"file": path.name, "size": stamp.size, "mtime_ns": stamp.mtime_ns, "sha256": stamp.sha256}
    tmp.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    _remember(path, stamp)
    return stamp


def _key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _remember(path: Path, stamp: Stamp) -> None:
    with _lock:
        _memo[(str(path.resolve()), stamp.size, stamp.mtime_ns)] = stamp.sha256


def _cache_lookup(cache_dir: Path | None, key: tuple[str, int, int]) -> str | None:
    if cache_dir is None:
        return None
    try:
        raw = json.loads((cache_dir / IDENTITY_FILE).read_text(encoding="utf-8"))
        entry = raw.get(key[0])
        if isinstance(entry, dict) and entry.get("size") == key[1] and entry.get("mtime_ns") == key[2]:
            return str(entry["sha256"])
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    return None


def _cache_store(cache_dir: Path | None, key: tuple[str, int, int], sha256: str) -> None:
    if cache_dir is None:
        return
    path = cache_dir / IDENTITY_FILE
    with _lock:
        try:
            raw = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
            if not isinstance(raw, dict):
                raw = {}
        except (OSError, ValueError):
            raw = {}
        raw[key[0]] = {"size": key[1], "mtime_ns": key[2], "sha256": sha256}
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("model identity not cached path=%s error=%s", path, exc)


def known_sha256(path: Path, cache_dir: Path | None = None) -> str | None:
    """The file's hash if a matching stamp, cache entry or earlier check in this process knows it."""
    key = _key(path)
    if key is None:
        return None
    with _lock:
        hit = _memo.get(key)
    if hit is not None:
        return hit
    stamp = read_stamp(path)
    if stamp is not None and stamp.matches(path):
        _remember(path, stamp)
        return stamp.sha256
    cached = _cache_lookup(cache_dir, key)
    if cached is not None:
        with _lock:
            _memo[key] = cached
    return cached


def hash_and_record(path: Path, *, cache_dir: Path | None = None, sidecar: bool = True) -> str:
    """Hash the file once and write the result down: a sidecar stamp when ``sidecar`` (and writable),
    otherwise (or as well, when that fails) the identity cache in ``cache_dir``."""
    key = _key(path)
    digest = sha256_file(path)
    if key is None:
        return digest
    if sidecar:
        try:
            write_stamp(path, digest)
            return digest
        except OSError as exc:
            log.info("stamp not written path=%s error=%s; using the identity cache", path, exc)
    with _lock:
        _memo[key] = digest
    _cache_store(cache_dir, key, digest)
    return digest


def file_identity(path: Path, *, cache_dir: Path | None = None, sidecar: bool = False) -> str:
    """The file's SHA-256: from what is already known, else hashed once and recorded."""
    return known_sha256(path, cache_dir) or hash_and_record(path, cache_dir=cache_dir, sidecar=sidecar)
