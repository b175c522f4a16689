"""Watched folders: the registry, the catch-up scan, change detection and the debounce of bursts.

A watched folder's library must match the folder. What Footnote knew of each file (size, mtime and
what came of it) is kept in ``watched.json`` in the data folder, so a start-up scan finds what
changed while Footnote was not running by stat alone, and reads only those files. Reading a file
whose text did not change costs a parse, never an embedding: the engine skips unchanged content by
its hash, and a renamed or edited file reuses the vectors of the passages it already had.

Nothing here imports Qt: the CLI, the window's watcher thread and the tests use the same code.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import FootnoteError, LoadError
from core.events import UNCHANGED, IngestEvent
from core.ingest.loaders import walk

if TYPE_CHECKING:
    from core.engine import Engine

log = logging.getLogger(__name__)

WATCH_FILE = "watched.json"
SAVE_EVERY = 200  # files between registry saves during a long sync (a crash re-reads at most these)
BATCH_FILES = 200  # files per ingest call (the vectors they may reuse are loaded per group)

# Editors' and browsers' scratch files: never documents, and often gone a moment later.
IGNORED_SUFFIXES = frozenset({".swp", ".swo", ".swx", ".swn", ".tmp", ".temp", ".part", ".partial", ".crdownload",
                              ".download", ".kate-swp", ".lock", ".lck"})
IGNORED_NAMES = frozenset({"4913", "desktop.ini", "thumbs.db"})  # 4913: vim's write-test file


def ignored(path: str | Path, root: str | Path | None = None) -> bool:
    """True for names no one means as a document: hidden files and folders, Office lock files
    (``~$x.docx``), editor swap and backup files, downloads in progress."""
    p = os.fspath(path)
    top = os.fspath(root).rstrip(os.sep) if root is not None else None
    if top is not None and _under(p, top):
        parts = [x for x in p[len(top):].split(os.sep) if x]  # string work: scans call this per file
    else:
        parts = [os.path.basename(p.rstrip(os.sep))]
    if not parts:
        return False
    for name in parts:
        if name.startswith((".", "~$", "#")) or name.endswith("~"):
            return True
    name = parts[-1].lower()
    return name in IGNORED_NAMES or any(name.endswith(s) for s in IGNORED_SUFFIXES)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _resolved(path: str | Path) -> str:
    try:
        return str(Path(path).expanduser().resolve())
    except (OSError, RuntimeError):
        return str(Path(path).expanduser().absolute())


# -- the registry --------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileState:
    """What Footnote knew of one file the last time it looked: size, mtime and the outcome
    (``indexed``, ``skipped`` or ``failed``)."""

    size: int
    mtime_ns: int
    outcome: str = "indexed"


@dataclass(frozen=True)
class WatchedFolder:
    path: str
    added_at: float
    files: int = 0


class WatchRegistry:
    """The watched folders of one data folder, in ``watched.json``: every change is a locked
    read-modify-write and an atomic replace, so the CLI and a window never undo each other's
    edits and a crash never leaves half a file."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir).expanduser()
        self.path = self.data_dir / WATCH_FILE

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.data_dir / f"{WATCH_FILE}.lock", "a+", encoding="utf-8") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def _load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"folders": {}}
        except (OSError, ValueError) as exc:
            # Losing it costs one full re-read of the folders' files (unchanged text is not re-embedded).
            log.warning("watch registry unreadable path=%s error=%s; starting afresh", self.path, exc)
            return {"folders": {}}
        folders = data.get("folders") if isinstance(data, dict) else None
        return {"folders": folders if isinstance(folders, dict) else {}}

    def _write(self, data: dict[str, Any]) -> None:
        tmp = self.path.with_name(f"{WATCH_FILE}.{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, separators=(",", ":"))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)

    def _update(self, change: Callable[[dict[str, Any]], Any]) -> Any:
        with self._locked():
            data = self._load()
            result = change(data["folders"])
            self._write(data)
            return result

    def folders(self) -> list[WatchedFolder]:
        with self._locked():
            folders = self._load()["folders"]
        return [WatchedFolder(p, float(f.get("added_at", 0.0)), len(f.get("files", {})))
                for p, f in sorted(folders.items())]

    def folder_of(self, path: str | Path) -> str | None:
        """The watched folder that holds ``path`` (None when none does)."""
        target = _resolved(path)
        for f in self.folders():
            if _under(target, f.path):
                return f.path
        return None

    def add(self, folder: str | Path) -> WatchedFolder:
        path = Path(folder).expanduser()
        if not path.is_dir():
            reason = "no such folder" if not path.exists() else "not a folder"
            raise FootnoteError(f"{folder}: cannot watch it ({reason})")
        root = _resolved(path)
        data_dir = _resolved(self.data_dir)
        if _under(data_dir, root) or _under(root, data_dir):
            raise FootnoteError(f"{root}: cannot watch it (it holds Footnote's own library folder {data_dir})")

        def change(folders: dict[str, Any]) -> WatchedFolder:
            for other in folders:
                if _under(root, other):
                    raise FootnoteError(f"{root}: already watched as part of {other}")
            entry: dict[str, Any] = {"added_at": time.time(), "files": {}}
            for inner in [o for o in folders if _under(o, root)]:  # a parent absorbs watched subfolders
                entry["files"].update(folders.pop(inner).get("files", {}))
            folders[root] = entry
            return WatchedFolder(root, entry["added_at"], len(entry["files"]))

        added: WatchedFolder = self._update(change)
        log.info("watch added folder=%s", root)
        return added

    def remove(self, folder: str | Path) -> WatchedFolder:
        root = _resolved(folder)

        def change(folders: dict[str, Any]) -> WatchedFolder:
            key = root if root in folders else str(folder) if str(folder) in folders else None
            if key is None:
                raise FootnoteError(f"{folder}: not a watched folder")
            entry = folders.pop(key)
            return WatchedFolder(key, float(entry.get("added_at", 0.0)), len(entry.get("files", {})))

        removed: WatchedFolder = self._update(change)
        log.info("watch removed folder=%s", removed.path)
        return removed

    def known(self, folder: str) -> dict[str, FileState]:
        with self._locked():
            entry = self._load()["folders"].get(folder)
        if entry is None:
            raise FootnoteError(f"{folder}: not a watched folder")
        out = {}
        for source, v in entry.get("files", {}).items():
            with contextlib.suppress(TypeError, ValueError, IndexError):
                out[source] = FileState(int(v[0]), int(v[1]), str(v[2]))
        return out

    def record(self, folder: str, updates: dict[str, FileState | None]) -> None:
        """Remember files' states (None: forget the file). A folder no longer watched is left alone."""
        if not updates:
            return

        def change(folders: dict[str, Any]) -> None:
            entry = folders.get(folder)
            if entry is None:
                return
            files = entry.setdefault("files", {})
            for source, st in updates.items():
                if st is None:
                    files.pop(source, None)
                else:
                    files[source] = [st.size, st.mtime_ns, st.outcome]

        self._update(change)


# -- scanning and planning -----------------------------------------------------------------------


@dataclass
class Scan:
    """Files found under some paths of a watched folder, by source key, with their stat."""

    files: dict[str, tuple[int, int]] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)  # folders whose contents are unknown now


def scan(root: str, targets: Iterable[str]) -> Scan:
    """Stat every wanted file under ``targets`` (paths inside ``root``). Cheap: no file is opened."""
    out = Scan()
    real_dirs: dict[str, str] = {}  # a folder's resolved path, looked up once per folder, not per file
    for target in targets:
        t = Path(target)
        if ignored(t, root) or not (t.exists() or t.is_symlink()):
            continue
        for item in walk([t]):
            if isinstance(item, LoadError):  # a link out, a broken link, a pipe: not a document
                if os.path.isdir(item.source):
                    out.unreadable.append(_resolved(item.source))
                continue
            if ignored(item, root):
                continue
            parent, name = os.path.split(os.fspath(item))
            if os.path.islink(item):
                source = _resolved(item)
            else:
                if parent not in real_dirs:
                    real_dirs[parent] = _resolved(parent)
                source = os.path.join(real_dirs[parent], name)
            if not _under(source, root):
                continue
            try:
                st = item.stat()
            except OSError:
                continue  # gone between the listing and the stat: the next event says so
            out.files[source] = (st.st_size, st.st_mtime_ns)
            out.paths[source] = item
    return out


@dataclass
class Plan:
    imports: list[str] = field(default_factory=list)  # sources, new or changed
    removals: list[str] = field(default_factory=list)
    moves: dict[str, str] = field(default_factory=dict)  # new source -> removed source of the same size and mtime
    unchanged: int = 0


def plan(found: Scan, known: dict[str, FileState], library: dict[str, str], scopes: list[str],
         forced: frozenset[str] = frozenset()) -> Plan:
    """What to do so the library matches the files in ``scopes``. ``library`` maps the sources
    of documents under the folder to their status. A file counts as changed when its size or
    mtime differ from what was recorded, when it was indexed and its document is gone, or when
    it is in ``forced`` (an event named it: two saves within the clock's tick share an mtime;
    the engine's content hash still skips text that did not change)."""
    out = Plan()
    for source, (size, mtime) in found.files.items():
        st = known.get(source)
        if (st is None or source in forced or (st.size, st.mtime_ns) != (size, mtime)
                or (st.outcome == "indexed" and library.get(source) != "ready")):
            out.imports.append(source)
        else:
            out.unchanged += 1
    candidates = set(known) | set(library)
    for source in sorted(candidates):
        if source in found.files or not any(_under(source, s) for s in scopes):
            continue
        if any(_under(source, u) for u in found.unreadable):
            continue  # cannot tell now; never remove what may still be there
        out.removals.append(source)
    by_stat: dict[tuple[int, int], list[str]] = {}
    for source in out.removals:
        if source in known:
            by_stat.setdefault((known[source].size, known[source].mtime_ns), []).append(source)
    for source in out.imports:
        if source not in known and by_stat.get(found.files[source]):
            out.moves[source] = by_stat[found.files[source]].pop()
    return out


def _outcome(ev: IngestEvent) -> str | None:
    if ev.kind == "done" or (ev.kind == "skipped" and ev.error == UNCHANGED):
        return "indexed"
    if ev.kind in ("skipped", "failed"):
        return ev.kind
    return None


def sync(engine: Engine, registry: WatchRegistry, folder: str, paths: Iterable[str] | None = None,
         cancel: threading.Event | None = None) -> Iterator[IngestEvent]:
    """Bring the library in line with a watched folder, or with the given paths inside it (what
    the watcher saw change): import new and changed files, remove the documents of deleted ones.
    A folder that is not there (an unplugged drive) keeps its documents."""
    root = _resolved(folder)
    known = registry.known(root)
    if not Path(root).is_dir():
        yield IngestEvent("started", root)
        yield IngestEvent("skipped", root, error=f"{root}: the watched folder is not there now; its documents are kept")
        return
    scopes = [root] if paths is None else _scopes(root, paths)
    if not scopes:
        return
    found = scan(root, scopes)
    library = {d.source: d for d in engine.documents() if _under(d.source, root)}
    forced = frozenset(s for s in scopes if s in found.files) if paths is not None else frozenset()
    todo = plan(found, known, {s: d.status for s, d in library.items()}, scopes, forced)
    log.info("watch sync folder=%s scopes=%d files=%d import=%d remove=%d moves=%d unchanged=%d", root, len(scopes),
             len(found.files), len(todo.imports), len(todo.removals), len(todo.moves), todo.unchanged)
    updates: dict[str, FileState | None] = {}
    try:
        for i in range(0, len(todo.imports), BATCH_FILES):
            if cancel is not None and cancel.is_set():
                return
            group = todo.imports[i:i + BATCH_FILES]
            # Passages a renamed or edited file still has keep their vectors: only new text is embedded.
            olds = [library[todo.moves.get(s, s)].id for s in group if todo.moves.get(s, s) in library]
            with engine.reusing_vectors(olds):
                for ev in engine.ingest_files([found.paths[s] for s in group], cancel=cancel):
                    yield ev
                    outcome = _outcome(ev)
                    if outcome is not None and ev.source in found.files:
                        size, mtime = found.files[ev.source]
                        updates[ev.source] = FileState(size, mtime, outcome)
                        if len(updates) >= SAVE_EVERY:
                            registry.record(root, updates)
                            updates = {}
        for source in todo.removals:
            if cancel is not None and cancel.is_set():
                return
            updates[source] = None
            doc = library.get(source)
            if doc is None:
                continue
            try:
                engine.remove(doc.id)
            except FootnoteError as exc:
                yield IngestEvent("failed", source, title=doc.title, document_id=doc.id, error=str(exc))
                continue
            log.info("watch removed document source=%s reason=file_gone", source)
            yield IngestEvent("removed", source, title=doc.title, document_id=doc.id)
    finally:
        registry.record(root, updates)


def _scopes(root: str, paths: Iterable[str]) -> list[str]:
    """The distinct paths to look at, inside the folder, none inside another."""
    wanted = sorted({p for p in (_resolved(x) if os.path.lexists(x) else os.path.abspath(x) for x in paths)
                     if _under(p, root) and not ignored(p, root)})
    out: list[str] = []
    for p in wanted:
        if not out or not _under(p, out[-1]):
            out.append(p)
    return out


# -- debouncing ----------------------------------------------------------------------------------


class ChangeBuffer:
    """Changed paths wait here until they are quiet (no event for ``quiet_s``) and stable (the
    same size and mtime at two looks ``quiet_s`` apart, so a file still being written waits); then
    they leave together as one batch. A burst (500 files copied at once) becomes one batch; a
    stream that never stops still lets settled paths through after ``max_wait_s``.

    Thread-safe: the file-system thread calls ``add``, a timer thread calls ``due``."""

    def __init__(self, quiet_s: float = 0.5, max_wait_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}  # path -> time of its last event
        self._looked: dict[str, tuple[float, tuple[int, int] | None]] = {}  # path -> (when, stat then)
        self._ready_since: float | None = None

    def add(self, path: str) -> None:
        with self._lock:
            self._last[path] = self._clock()
            self._looked.pop(path, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._last)

    def due(self) -> list[str]:
        """The batch to sync now, or [] (stat calls happen here, never on the caller's GUI thread)."""
        now = self._clock()
        with self._lock:
            items = list(self._last.items())
        ready: list[str] = []
        waiting = 0
        for path, last in items:
            if now - last < self.quiet_s:
                waiting += 1
                continue
            stat = _stat(path)
            with self._lock:
                looked = self._looked.get(path)
                if self._last.get(path) != last:  # a new event arrived meanwhile
                    waiting += 1
                    continue
                if stat is None or stat[0] < 0 or (looked is not None and looked[1] == stat
                                                   and now - looked[0] >= self.quiet_s * 0.9):
                    ready.append(path)
                    continue
                if looked is None or looked[1] != stat:
                    self._looked[path] = (now, stat)
            waiting += 1
        if not ready:
            self._ready_since = None
            return []
        if self._ready_since is None:
            self._ready_since = now
        if waiting and now - self._ready_since < self.max_wait_s:
            return []  # part of a burst is still settling: wait for it, up to max_wait_s
        with self._lock:
            for path in ready:
                self._last.pop(path, None)
                self._looked.pop(path, None)
        self._ready_since = None
        return ready


def _stat(path: str) -> tuple[int, int] | None:
    """(size, mtime) of a file, (-1, mtime) of a folder (nothing to wait for), None when gone."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if os.path.isdir(path):
        return (-1, st.st_mtime_ns)
    return (st.st_size, st.st_mtime_ns)
