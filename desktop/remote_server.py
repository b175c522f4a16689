"""The CLI's library commands, run by the window that holds the library.

While a window is open its engine holds the library's lock, so ``footnote list`` (or search,
ingest, remove, ask) sends its parsed options here instead of failing as locked
(``desktop.remote``). The window runs the very same command function (``desktop.cli``) in a
worker, never on the GUI thread, with a context whose engine is the window's and whose output
streams back to the caller line by line: the command prints the same with or without a window.
An import goes through the window's import queue, so it shows in the window like a dropped file.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from PySide6.QtCore import QObject, Signal

from core.errors import FootnoteError
from core.events import IngestEvent
from desktop import remote
from desktop.context import CliContext
from desktop.workers import emit

if TYPE_CHECKING:
    from core.documents import Document
    from core.engine import Engine
    from desktop.jobs import ImportJob
    from desktop.services import Services
    from desktop.single_instance import Connection
    from desktop.views import ImportSummary

log = logging.getLogger(__name__)

#: Options naming files the command reads itself; relative ones are the caller's, not the window's.
PATH_ARGS = ("queries_file", "questions_file")
POLL_S = 0.1


def _watch(args: argparse.Namespace, ctx: CliContext) -> int:
    from desktop import cli_watch

    if args.watch_command == "sync":
        return cli_watch.cmd_watch_sync(args, ctx)
    if args.watch_command == "remove":
        return cli_watch.cmd_watch_remove(args, ctx)
    raise FootnoteError(f"watch {args.watch_command}: runs in the command line itself, not in the window")


def _command(name: str) -> Callable[[argparse.Namespace, CliContext], int] | None:
    from desktop import cli, cli_answers

    commands: dict[str, Callable[[argparse.Namespace, CliContext], int]] = {
        "ingest": cli.cmd_ingest, "search": cli.cmd_search, "list": cli.cmd_list, "remove": cli.cmd_remove,
        "ask": cli_answers.cmd_ask, "related": cli.cmd_related, "watch": _watch,
    }
    return commands.get(name) if name in remote.LIBRARY_COMMANDS else None


class ClientGone(FootnoteError):
    """The caller hung up (Ctrl+C); the command stops at its next line of output."""


class _Stream(io.TextIOBase):
    """``ctx.out`` or ``ctx.err`` of a forwarded command: each write becomes one reply line."""

    def __init__(self, conn: Connection, key: str, cancel: threading.Event, stop_when_gone: bool) -> None:
        super().__init__()
        self.conn, self.key, self.cancel, self.stop_when_gone = conn, key, cancel, stop_when_gone

    def write(self, text: str) -> int:
        if self.cancel.is_set():
            if self.stop_when_gone:
                raise ClientGone("the command line that asked for this has gone")
            return len(text)
        if text:
            self.conn.send({self.key: text})
        return len(text)

    def isatty(self) -> bool:
        return False  # no progress bar: the caller's terminal is drawn by the caller

    def flush(self) -> None:
        pass


@dataclass
class ImportRequest:
    """An import the CLI asked for, handed to the GUI thread, which queues it like a drop."""

    sources: list[str]
    crawl_depth: int
    max_pages: int
    replies: queue.Queue[tuple[str, Any]] = field(default_factory=queue.Queue)
    job: ImportJob | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        self.cancelled.set()
        if self.job is not None:
            self.job.cancel()


class WindowEngine:
    """The window's engine as a forwarded command sees it: the same calls, relative paths taken
    from the caller's folder, imports through the window's queue, and ``close`` a no-op (the
    window keeps its library open)."""

    def __init__(self, runner: CommandRunner, cwd: str, cancel: threading.Event) -> None:
        self._runner = runner
        self._cwd = cwd
        self._cancel = cancel

    def _engine(self) -> Engine:
        services = self._runner.services
        if services.state in ("locked", "damaged", "failed"):
            raise FootnoteError(f"{services.data_dir}: the Footnote window could not open this library "
                                f"({services.state}); see the window")
        return services._wait_engine(self._cancel)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine(), name)

    def find(self, source_or_id: str) -> Document | None:
        engine = self._engine()
        doc = engine.find(source_or_id)
        if doc is None and "://" not in source_or_id and not os.path.isabs(os.path.expanduser(source_or_id)):
            doc = engine.find(remote.to_source(source_or_id, self._cwd))
        return doc

    def remove(self, source_or_id: str) -> Document:
        doc = self.find(source_or_id)
        return self._engine().remove(doc.id if doc is not None else source_or_id)

    def ingest(self, sources: list[str], crawl_depth: int = 0, max_pages: int = 20,
               cancel: threading.Event | None = None) -> Iterator[IngestEvent]:
        request = ImportRequest(remote.to_sources(list(sources), self._cwd), crawl_depth, max_pages)
        emit(self._runner.import_wanted, request)
        failed = 0
        while True:
            try:
                kind, value = request.replies.get(timeout=POLL_S)
            except queue.Empty:
                if self._cancel.is_set() or (cancel is not None and cancel.is_set()):
                    request.cancel()
                    return
                continue
            if kind == "event":
                failed += value.kind == "failed"
                yield value
                continue
            summary: ImportSummary | None = value
            if summary is not None and len(summary.failed) > failed:
                raise FootnoteError(summary.failed[-1])  # the import itself failed, not one item
            return

    def close(self) -> None:
        pass


class CommandRunner(QObject):
    """Runs forwarded commands in ``Services.remote_pool`` and answers on their connection."""

    import_wanted = Signal(object)  # ImportRequest, from a worker; handled on the GUI thread

    def __init__(self, services: Services, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.services = services
        self.import_wanted.connect(self._start_import)

    def run(self, request: dict[str, Any], conn: Connection) -> None:
        name = request.get("command")
        args = request.get("args")
        cwd = request.get("cwd")
        func = _command(name) if isinstance(name, str) else None
        if func is None or not isinstance(args, dict) or not isinstance(cwd, str) or not os.path.isabs(cwd):
            conn.send({"exit": 1, "error": f"the window does not run {str(name)[:40]!r} for the command line"})
            return
        if self.services._closing:
            conn.send({"exit": 1, "error": "the Footnote window is closing"})
            return
        try:
            ns = argparse.Namespace(**{str(k): v for k, v in args.items() if k not in remote.LOCAL_ARGS})
        except TypeError:
            conn.send({"exit": 1, "error": "malformed options"})
            return
        ns.command, ns.func = name, func
        for key in PATH_ARGS:
            value = getattr(ns, key, None)
            if isinstance(value, str) and value:
                setattr(ns, key, os.path.join(cwd, os.path.expanduser(value)))
        conn.send({"accepted": True})
        log.info("command from the command line name=%s", name)

        def work(cancel: threading.Event) -> int:
            from desktop.cli import execute

            ctx = CliContext(data_dir=Path(self.services.data_dir), json=bool(getattr(ns, "json", False)),
                             out=cast("IO[str]", _Stream(conn, "out", cancel, True)),
                             err=cast("IO[str]", _Stream(conn, "err", cancel, False)),
                             _engine=cast("Engine", WindowEngine(self, cwd, cancel)))
            return execute(ns, ctx, None, in_window=True)

        def failed(exc: BaseException) -> None:
            if not isinstance(exc, ClientGone):
                log.error("forwarded command failed name=%s error=%s", name, type(exc).__name__, exc_info=exc)
                conn.send({"err": f"footnote: unexpected error in the window ({type(exc).__name__})\n", "exit": 1})

        worker = self.services.remote_pool.start(
            work, name=f"cli-{name}", on_result=lambda code: conn.send({"exit": int(code)}), on_error=failed)
        conn.on_close.append(worker.cancel)

    def _start_import(self, request: ImportRequest) -> None:
        if request.cancelled.is_set():
            request.replies.put(("finished", None))
            return
        job = self.services.import_sources(request.sources, crawl_depth=request.crawl_depth,
                                           max_pages=request.max_pages)
        request.job = job
        job.event.connect(lambda ev: request.replies.put(("event", ev)))
        job.finished.connect(lambda summary: request.replies.put(("finished", summary)))
        if request.cancelled.is_set():
            job.cancel()
