"""Watching folders while Footnote runs: file-system events become debounced sync batches.

``FolderObserver`` (no Qt) uses watchdog's native observer (inotify on Linux: one watch per
folder, never per file, so 10,000 files cost nothing; FSEvents and ReadDirectoryChangesW
elsewhere). Its own thread collects events in a ``ChangeBuffer`` per folder, re-reads the
registry when the CLI changes it, re-attaches a folder that comes back (a drive plugged in
again) and rescans every folder now and then, which catches whatever events were lost (a
kernel queue overflow, a network share). ``FolderWatcher`` is the window's side: each batch
becomes a sync job in the import queue, shown like an import, and the library refreshes when
it ends. The GUI thread never scans, stats or parses anything.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from core.events import UNCHANGED
from core.watch import ChangeBuffer, WatchRegistry, ignored
from desktop.jobs import ImportJob
from desktop.workers import emit

log = logging.getLogger(__name__)

TICK_S = 0.2
RESCAN_S = 600.0  # the backstop full scan of every watched folder
REATTACH_S = 5.0  # how often a folder that is not there is looked for again
QUIET_S = 0.5
MAX_WAIT_S = 10.0

Batch = Callable[[str, "list[str] | None"], None]  # folder, changed paths (None: the whole folder)


class _Handler:
    """watchdog's handler protocol: ``dispatch(event)``, called on the observer's thread."""

    def __init__(self, root: str, buffer: ChangeBuffer) -> None:
        self.root = root
        self.buffer = buffer

    def dispatch(self, event: Any) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for raw in (event.src_path, getattr(event, "dest_path", "")):
            if not raw:
                continue
            path = os.fsdecode(raw)
            if event.is_directory and event.event_type == "modified":
                continue  # a folder's own mtime: its files' events say what changed
            if not ignored(path, self.root):
                self.buffer.add(path)


class FolderObserver:
    """Watches the registry's folders; calls ``on_batch(folder, paths)`` from its own thread."""

    def __init__(self, data_dir: Path, on_batch: Batch, *, quiet_s: float = QUIET_S,
                 max_wait_s: float = MAX_WAIT_S, rescan_s: float = RESCAN_S, catch_up: bool = True) -> None:
        self.registry = WatchRegistry(data_dir)
        self.on_batch = on_batch
        self.quiet_s = quiet_s
        self.max_wait_s = max_wait_s
        self.rescan_s = rescan_s
        self.catch_up = catch_up
        self._buffers: dict[str, ChangeBuffer] = {}
        self._watches: dict[str, Any] = {}  # folder -> watchdog ObservedWatch, None while not there
        self._last_look: dict[str, float] = {}
        self._last_scan: dict[str, float] = {}
        self._registry_stamp: tuple[int, int] | None = None
        self._stop = threading.Event()
        self._refresh = threading.Event()
        self._thread: threading.Thread | None = None
        self._observer: Any = None

    @property
    def folders(self) -> list[str]:
        return sorted(self._buffers)

    def start(self) -> None:
        if self._thread is not None:
            return
        from watchdog.observers import Observer

        self._observer = Observer()
        self._observer.daemon = True
        self._observer.start()
        self._thread = threading.Thread(target=self._run, name="footnote-watch", daemon=True)
        self._thread.start()

    def refresh(self) -> None:
        """Re-read the registry now (a folder was added or removed)."""
        self._refresh.set()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout_s)
            self._observer = None

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the watcher thread must outlive one bad tick
                log.exception("watch tick failed")

    def _tick(self) -> None:
        now = time.monotonic()
        stamp = _stamp(self.registry.path)
        if stamp != self._registry_stamp or self._refresh.is_set():
            self._refresh.clear()
            self._registry_stamp = stamp
            self._sync_folder_list(now)
        for folder, buffer in list(self._buffers.items()):
            if self._watches.get(folder) is None and now - self._last_look.get(folder, 0.0) >= REATTACH_S:
                self._attach(folder, now)
            elif self._watches.get(folder) is not None and not os.path.isdir(folder):
                self._detach(folder)
            if now - self._last_scan.get(folder, now) >= self.rescan_s:
                self._last_scan[folder] = now
                self.on_batch(folder, None)
            batch = buffer.due()
            if batch:
                log.info("watch batch folder=%s paths=%d", folder, len(batch))
                self.on_batch(folder, batch)

    def _sync_folder_list(self, now: float) -> None:
        wanted = {f.path for f in self.registry.folders()}
        for folder in [f for f in self._buffers if f not in wanted]:
            self._detach(folder)
            del self._buffers[folder]
            log.info("watch stopped folder=%s", folder)
        for folder in sorted(wanted - set(self._buffers)):
            self._buffers[folder] = ChangeBuffer(self.quiet_s, self.max_wait_s)
            self._watches[folder] = None
            self._attach(folder, now, first=True)

    def _attach(self, folder: str, now: float, first: bool = False) -> None:
        self._last_look[folder] = now
        if not os.path.isdir(folder):
            if first:
                log.info("watch folder not there folder=%s; looking again every %.0fs", folder, REATTACH_S)
                if self.catch_up:
                    self.on_batch(folder, None)  # reports that the folder is not there; documents kept
            return
        try:
            self._watches[folder] = self._observer.schedule(_Handler(folder, self._buffers[folder]), folder,
                                                            recursive=True)
        except OSError as exc:  # e.g. the inotify watch limit: the periodic rescan still keeps up
            log.warning("watch events unavailable folder=%s error=%s; rescanning every %.0fs", folder, exc,
                        self.rescan_s)
            self._watches[folder] = None
            self._last_look[folder] = now + self.rescan_s
        self._last_scan[folder] = now
        if self.catch_up or not first:
            self.on_batch(folder, None)  # catch up with what changed while nobody watched
        log.info("watch started folder=%s", folder)

    def _detach(self, folder: str) -> None:
        watch = self._watches.get(folder)
        self._watches[folder] = None
        if watch is not None and self._observer is not None:
            try:
                self._observer.unschedule(watch)
            except (KeyError, OSError):
                pass


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ino)


class FolderWatcher(QObject):
    """The window's watched folders: catch-up at start, then each batch of changes as a sync job."""

    status = Signal(str)  # a line for the status bar
    synced = Signal(str, object)  # folder, ImportSummary: a sync job ended
    _batch = Signal(str, object)  # from the observer's thread to the GUI thread

    def __init__(self, services: Any, parent: QObject | None = None, *, quiet_s: float = QUIET_S,
                 max_wait_s: float = MAX_WAIT_S) -> None:
        super().__init__(parent)
        self.services = services
        self.registry = WatchRegistry(services.data_dir)
        self.observer = FolderObserver(services.data_dir, self._from_thread, quiet_s=quiet_s, max_wait_s=max_wait_s)
        self._batch.connect(self._on_batch)
        self._running: dict[str, ImportJob] = {}
        self._pending: dict[str, set[str] | None] = {}  # folder -> paths waiting (None: the whole folder)
        self._started = False

    def start(self) -> None:
        """Begin watching (the library is open): every watched folder catches up first."""
        if not self._started:
            self._started = True
            self.observer.start()

    def stop(self) -> None:
        self.observer.stop()

    def folders(self, on_result: Callable[[list[str]], None]) -> None:
        self.services.run(lambda: [f.path for f in self.registry.folders()], on_result,
                          what="Listing the watched folders")

    def add(self, folder: str, on_error: Callable[[str], None]) -> None:
        def done(added: Any) -> None:
            emit(self.status, f"Watching {added.path}: its files are being imported")
            self.observer.refresh()

        self.services.run(lambda: self.registry.add(folder), done, on_error, what=f"Watching {folder}")

    def remove(self, folder: str, on_error: Callable[[str], None]) -> None:
        def done(removed: Any) -> None:
            emit(self.status, f"Stopped watching {removed.path}; its documents stay in the library")
            self.observer.refresh()

        self.services.run(lambda: self.registry.remove(folder), done, on_error, what=f"Unwatching {folder}")

    # -- batches ----------------------------------------------------------------------------------

    def _from_thread(self, folder: str, paths: list[str] | None) -> None:
        emit(self._batch, folder, paths)  # queued to the GUI thread

    def _on_batch(self, folder: str, paths: list[str] | None) -> None:
        if folder in self._running:  # one sync per folder at a time: merge into the next one
            waiting = self._pending.get(folder, set())
            self._pending[folder] = None if paths is None or waiting is None else waiting | set(paths)
            return
        self._start_job(folder, paths)

    def _start_job(self, folder: str, paths: list[str] | None) -> None:
        name = Path(folder).name or folder
        label = f"Watched folder {name}" if paths is None else f"Watched folder {name}: {len(paths)} changed"

        def finished(job: ImportJob) -> None:
            self._running.pop(folder, None)
            self._report(folder, job)
            if folder in self._pending:
                rest = self._pending.pop(folder)
                self._start_job(folder, None if rest is None else sorted(rest))

        self._running[folder] = self.services.start_job(
            label, "watch", f"Syncing {folder}",
            lambda engine, cancel: engine.sync_folder(folder, paths, cancel=cancel), then=finished)

    def _report(self, folder: str, job: ImportJob) -> None:
        items = list(job.items.values())
        failed = [ev.error for ev in items if ev.kind == "failed"]
        gone = [ev.error for ev in items if ev.kind == "skipped" and ev.source == folder and ev.error != UNCHANGED]
        parts = [_named([ev.source for ev in items if ev.kind == kind], verb)
                 for kind, verb in (("done", "updated"), ("removed", "removed"))]
        parts = [p for p in parts if p] + ([f"{len(failed)} failed ({failed[0]})"] if failed else [])
        if gone:
            emit(self.status, gone[0])
        elif parts:
            emit(self.status, f"{Path(folder).name}: {', '.join(parts)}")
        emit(self.synced, folder, job.summary)


def _named(sources: list[str], verb: str) -> str:
    """"a.txt, b.md updated" for a few files, "120 updated" for many."""
    if not sources:
        return ""
    if len(sources) <= 3:
        return f"{', '.join(Path(s).name for s in sources)} {verb}"
    return f"{len(sources)} {verb}"
