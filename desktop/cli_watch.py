"""``footnote watch add|list|remove|sync|run``: folders whose files the library follows.

The registry (``watched.json`` in the data folder) needs no open library, so ``add`` and
``remove`` work while a window has the library open: the window notices the registry change
within a second and starts (or stops) watching, catching up first. Without a window, ``add``
imports the folder at once, ``sync`` catches up, and ``run`` keeps watching until interrupted.
"""

from __future__ import annotations

import argparse
import queue
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.errors import FootnoteError, LibraryLockedError
from core.events import UNCHANGED, IngestEvent
from core.text_safety import printable
from core.watch import WatchRegistry
from desktop.context import CliContext

EXIT_OK, EXIT_PARTIAL = 0, 2


def register(subparsers: Any) -> None:
    common = getattr(subparsers, "_common", None)
    nested_kw: dict[str, Any] = {"parents": [common]} if common is not None else {}
    p = subparsers.add_parser("watch", help="keep the library in step with folders (add, list, remove, sync, run)")
    ws = p.add_subparsers(dest="watch_command", metavar="{add,list,remove,sync,run}")
    ws.required = True
    sp = ws.add_parser("add", help="watch a folder: import its files now, follow its changes", **nested_kw)
    sp.add_argument("folder", metavar="DIR")
    sp.set_defaults(func=cmd_watch_add)
    sp = ws.add_parser("list", help="the watched folders", **nested_kw)
    sp.set_defaults(func=cmd_watch_list)
    sp = ws.add_parser("remove", help="stop watching a folder (its documents stay unless asked)", **nested_kw)
    sp.add_argument("folder", metavar="DIR")
    sp.add_argument("--remove-documents", action="store_true", help="also remove the folder's documents")
    sp.set_defaults(func=cmd_watch_remove)
    sp = ws.add_parser("sync", help="catch up with changes made while Footnote was not running", **nested_kw)
    sp.add_argument("folders", nargs="*", metavar="DIR", help="default: every watched folder")
    sp.set_defaults(func=cmd_watch_sync)
    sp = ws.add_parser("run", help="watch until interrupted (Ctrl+C), importing changes as they happen",
                       **nested_kw)
    sp.set_defaults(func=cmd_watch_run)


def _report(ctx: CliContext, events: Iterable[IngestEvent], totals: dict[str, int]) -> None:
    for ev in events:
        if ev.kind in ("done", "removed", "failed") or (ev.kind == "skipped" and ev.error != UNCHANGED):
            totals[ev.kind] = totals.get(ev.kind, 0) + 1
        elif ev.kind == "skipped":
            totals["unchanged"] = totals.get("unchanged", 0) + 1
        if ctx.json:
            if ev.kind in ("done", "removed", "failed", "skipped"):
                ctx.emit({"event": ev.kind, "source": ev.source, "title": ev.title, "error": ev.error,
                          "chunks": ev.total})
            continue
        if ev.kind == "done":
            ctx.out.write(f"imported  {printable(ev.title or ev.source)} ({ev.total} chunks)\n")
        elif ev.kind == "removed":
            ctx.out.write(f"removed   {printable(ev.source)} (the file is gone)\n")
        elif ev.kind == "failed":
            ctx.err.write(f"failed    {printable(ev.error)}\n")
        elif ev.kind == "skipped" and ev.error != UNCHANGED:
            ctx.out.write(f"skipped   {printable(ev.error)}\n")
        ctx.out.flush()


def _summary(ctx: CliContext, folder: str, totals: dict[str, int]) -> None:
    if ctx.json:
        ctx.emit({"folder": folder, "imported": totals.get("done", 0), "unchanged": totals.get("unchanged", 0),
                  "removed": totals.get("removed", 0), "failed": totals.get("failed", 0)})
    else:
        ctx.out.write(f"{printable(folder)}: {totals.get('done', 0)} imported, {totals.get('unchanged', 0)} unchanged, "
                      f"{totals.get('removed', 0)} removed, {totals.get('failed', 0)} failed\n")


def _sync(ctx: CliContext, folder: str) -> int:
    totals: dict[str, int] = {}
    _report(ctx, ctx.engine().sync_folder(folder), totals)
    _summary(ctx, folder, totals)
    return EXIT_PARTIAL if totals.get("failed") else EXIT_OK


def cmd_watch_add(args: argparse.Namespace, ctx: CliContext) -> int:
    added = WatchRegistry(ctx.data_dir).add(args.folder)
    try:
        ctx.engine()
    except LibraryLockedError:
        # A window has the library: it sees the registry change and imports the folder itself.
        msg = "the open Footnote window imports it and follows its changes"
        if ctx.json:
            ctx.emit({"watching": added.path, "synced_by": "window"})
        else:
            ctx.out.write(f"watching {printable(added.path)}; {msg}\n")
        return EXIT_OK
    if not ctx.json:
        ctx.out.write(f"watching {printable(added.path)}\n")
    return _sync(ctx, added.path)


def cmd_watch_list(args: argparse.Namespace, ctx: CliContext) -> int:
    folders = WatchRegistry(ctx.data_dir).folders()
    if ctx.json:
        ctx.emit({"folders": [{"path": f.path, "files": f.files, "present": Path(f.path).is_dir()} for f in folders]})
        return EXIT_OK
    if not folders:
        ctx.out.write("no watched folders: add one with `footnote watch add DIR`\n")
    for f in folders:
        missing = "" if Path(f.path).is_dir() else "  (not there now; its documents are kept)"
        ctx.out.write(f"{printable(f.path)}  {f.files} files{missing}\n")
    return EXIT_OK


def cmd_watch_remove(args: argparse.Namespace, ctx: CliContext) -> int:
    removed = WatchRegistry(ctx.data_dir).remove(args.folder)
    gone: list[str] = []
    if args.remove_documents:
        engine = ctx.engine()
        prefix = removed.path.rstrip("/") + "/"
        for doc in engine.documents():
            if doc.source.startswith(prefix):
                engine.remove(doc.id)
                gone.append(doc.source)
    if ctx.json:
        ctx.emit({"unwatched": removed.path, "removed_documents": gone})
    else:
        kept = f"{len(gone)} documents removed" if args.remove_documents else "its documents stay in the library"
        ctx.out.write(f"stopped watching {printable(removed.path)}; {kept}\n")
    return EXIT_OK


def cmd_watch_sync(args: argparse.Namespace, ctx: CliContext) -> int:
    registry = WatchRegistry(ctx.data_dir)
    folders = [registry.folder_of(f) or f for f in args.folders] if args.folders else [f.path for f in registry.folders()]
    if not folders:
        raise FootnoteError("watch sync: no watched folders (add one with `footnote watch add DIR`)")
    code = EXIT_OK
    for folder in folders:
        code = max(code, _sync(ctx, folder))
    return code


def cmd_watch_run(args: argparse.Namespace, ctx: CliContext) -> int:
    import signal
    import threading

    from desktop.watcher import FolderObserver

    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    # SIGTERM (a service manager, a logout) stops it as Ctrl+C does: the observer stopped, the
    # library closed.
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    engine = ctx.engine()
    batches: queue.Queue[tuple[str, list[str] | None]] = queue.Queue()
    observer = FolderObserver(ctx.data_dir, lambda folder, paths: batches.put((folder, paths)))
    observer.start()
    if not ctx.json:
        ctx.out.write("watching; press Ctrl+C to stop\n")
        ctx.out.flush()
    try:
        while True:
            folder, paths = batches.get()
            totals: dict[str, int] = {}
            _report(ctx, engine.sync_folder(folder, paths), totals)
            if paths is None or totals:
                _summary(ctx, folder, totals)
    finally:
        observer.stop()
