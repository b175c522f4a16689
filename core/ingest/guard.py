"""Untrusted bytes are parsed in guarded worker processes, as Apache Tika does with its forked parser.

A worker is a separate Python process (started with ``spawn``, never by forking the windowed process
with its threads, Qt and mapped models) that runs one reader call at a time under an address-space
limit (``RLIMIT_AS``). The parent waits for each call with a wall-clock limit. A worker that runs
out of memory, overruns its time, crashes or segfaults costs only its item: it is killed, the item
fails with a reason a person can act on, and the next call gets a fresh worker. Embedding and
storing stay in the calling process.

``ParseGuard.call`` runs one function; ``ParseGuard.map`` keeps every worker busy over a stream of
items (ordered results), so many small files cost little more than parsing them in-process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from core.errors import FootnoteError, LoadError

log = logging.getLogger(__name__)

T = TypeVar("T")
MB = 1024 * 1024
_POLL_S = 0.1  # how often a waiting call looks at its cancel flag
BATCH_ITEMS = 16  # small items per round trip
BATCH_TIMEOUT_S = 10.0  # a batch that takes longer is re-run item by item under the full limit


class ImportCancelled(FootnoteError):
    """The import was cancelled while an item was being read."""


def _limit_memory(limit_bytes: int) -> None:
    if limit_bytes <= 0:
        return
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (limit_bytes, limit_bytes))
    except (ImportError, ValueError, OSError) as exc:  # no RLIMIT_AS on this platform
        log.warning("parse worker memory limit not set: %s", exc)


def _worker_main(conn: Connection, limit_bytes: int) -> None:
    """The child's loop: receive ``("one", function, args)`` or ``("many", [(function, args), ...])``
    and send back one tagged result, or a list of them."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    _limit_memory(limit_bytes)
    try:  # the readers load while the worker waits for its first task
        import core.ingest.loaders
        import core.ingest.web  # noqa: F401
    except Exception as exc:  # noqa: BLE001 - a task that needs them reports the problem itself
        log.warning("parse worker could not preload readers: %r", exc)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        reply: Any
        if task[0] == "many":
            reply = [_run_one(fn, args) for fn, args in task[1]]
        else:
            reply = _run_one(task[1], task[2])
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("memory",) if task[0] != "many" else [("memory",)] * len(task[1]))
        except (OSError, ValueError):  # the parent went away
            return
        except Exception as exc:  # noqa: BLE001 - a result that cannot be pickled
            failed = ("error", type(exc).__name__)
            conn.send(failed if task[0] != "many" else [failed] * len(task[1]))


def _run_one(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[Any, ...]:
    try:
        return ("ok", fn(*args))
    except LoadError as exc:
        return ("load", type(exc), exc.source, exc.reason)
    except MemoryError:
        return ("memory",)
    except BaseException as exc:  # noqa: BLE001 - any reader bug becomes this item's failure
        return ("error", type(exc).__name__)


class _Worker:
    def __init__(self, ctx: Any, limit_bytes: int) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn: Connection = parent
        self.process = ctx.Process(target=_worker_main, args=(child, limit_bytes), daemon=True,
                                   name="footnote-parse")
        self.process.start()
        child.close()
        self._closing = threading.Lock()

    def end_process(self) -> None:
        """Kill the process only. The thread that owns the worker sees the pipe end and closes its
        side itself: closing a pipe another thread is polling could hand its descriptor number to
        an unrelated file."""
        try:
            self.process.kill()
        except (OSError, ValueError):
            pass

    def kill(self) -> None:
        self.end_process()
        self.process.join(2)
        self._close_conn()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(1)
        if self.process.is_alive():
            self.kill()
        else:
            self._close_conn()

    def _close_conn(self) -> None:
        with self._closing:  # once, even when two threads end the same worker
            try:
                self.conn.close()
            except OSError:
                pass


@dataclass(frozen=True)
class Limits:
    memory_mb: int = 2048
    timeout_s: float = 120.0


def _crash_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        if name == "SIGKILL":  # the kernel's OOM killer, or someone else
            return "the reader was killed (it may have run out of memory)"
        return f"the reader crashed ({name})"
    return "the reader crashed"


class ParseGuard:
    """A small pool of guarded parse workers. Thread-safe; ``close`` kills whatever still runs."""

    def __init__(self, limits: Limits | None = None, workers: int | None = None) -> None:
        self.limits = limits or Limits()
        self.size = max(1, workers if workers is not None else min(2, os.cpu_count() or 1))
        self._ctx = multiprocessing.get_context("spawn")
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._live: set[_Worker] = set()
        self._free = threading.Semaphore(self.size)
        self._closed = False
        self._threads: ThreadPoolExecutor | None = None

    # -- workers --------------------------------------------------------------------------------

    def _take(self) -> _Worker:
        self._free.acquire()
        try:
            while True:
                try:
                    worker = self._idle.get_nowait()
                except queue.Empty:
                    break
                if worker.process.is_alive():
                    return worker
                self._forget(worker)
            with self._lock:
                if self._closed:
                    raise FootnoteError("the reader pool is closed")
                worker = _Worker(self._ctx, self.limits.memory_mb * MB)
                self._live.add(worker)
            return worker
        except BaseException:
            self._free.release()
            raise

    def _give(self, worker: _Worker) -> None:
        # Checked and queued under the lock: ``close`` drains the idle queue after setting
        # ``_closed`` under it, so a worker handed back is either drained there or stopped here.
        with self._lock:
            closed = self._closed
            if not closed:
                self._idle.put(worker)
        if closed:
            self._forget(worker)
            worker.stop()
        self._free.release()

    def _discard(self, worker: _Worker) -> None:
        self._forget(worker)
        worker.kill()
        self._free.release()

    def _forget(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)

    def prestart(self) -> None:
        """Start every worker now (they import their readers while the caller goes on), so the
        first import does not wait for them."""
        with self._lock:
            if self._closed:
                return
            missing = self.size - len(self._live)
            for _ in range(max(0, missing)):
                worker = _Worker(self._ctx, self.limits.memory_mb * MB)
                self._live.add(worker)
                self._idle.put(worker)

    # -- calls ----------------------------------------------------------------------------------

    def _exchange(self, worker: _Worker, task: tuple[Any, ...], source: str, timeout: float,
                  cancel: threading.Event | None) -> Any:
        """Send one task and wait for its reply. On a timeout or a crash the worker is killed and
        ``LoadError`` raised for ``source``; the caller owns the worker only when this returns."""
        try:
            worker.conn.send(task)
        except (OSError, ValueError):
            self._discard(worker)
            if self._closed:
                raise ImportCancelled(f"{source}: import cancelled") from None
            raise LoadError(source, "the reader could not be started") from None
        except Exception as exc:  # noqa: BLE001 - the task could not be pickled; the worker is untouched
            self._give(worker)
            raise LoadError(source, f"the reader could not be started ({type(exc).__name__})") from None
        deadline = time.monotonic() + timeout
        while True:
            if cancel is not None and cancel.is_set():
                self._discard(worker)
                raise ImportCancelled(f"{source}: import cancelled")
            left = deadline - time.monotonic()
            if left <= 0:
                self._discard(worker)
                raise LoadError(source, f"took longer than {timeout:g} s to read, so it was stopped")
            try:
                if worker.conn.poll(min(left, _POLL_S)):
                    return worker.conn.recv()
            except (EOFError, OSError):
                if self._closed:
                    self._discard(worker)
                    raise ImportCancelled(f"{source}: import cancelled") from None
                worker.process.join(2)
                reason = _crash_reason(worker.process.exitcode)
                self._discard(worker)
                log.warning("parse worker died source=%s exitcode=%s", source, worker.process.exitcode)
                raise LoadError(source, reason) from None

    def _result(self, source: str, reply: tuple[Any, ...]) -> Any:
        tag = reply[0]
        if tag == "ok":
            return reply[1]
        if tag == "load":
            cls, _src, reason = reply[1], reply[2], reply[3]
            return cls(source, reason)
        if tag == "memory":
            return LoadError(source, f"needed more than {self._memory_text()} of memory to read, so it was stopped")
        log.warning("reader error source=%s error=%s", source, reply[1])
        return LoadError(source, f"the reader failed ({reply[1]})")

    def call(self, source: str, fn: Callable[..., T], *args: Any, cancel: threading.Event | None = None) -> T:
        """Run ``fn(*args)`` in a worker. Returns its result or raises ``LoadError`` for ``source``
        (``ImportCancelled`` when ``cancel`` is set while it runs). ``fn`` must be importable."""
        worker = self._take()
        try:
            reply = self._exchange(worker, ("one", fn, args), source, self.limits.timeout_s, cancel)
        except LoadError as exc:
            if "took longer" in exc.reason:
                log.warning("parse timeout source=%s limit_s=%s", source, self.limits.timeout_s)
            raise
        if reply[0] == "memory":
            self._discard(worker)  # a worker past MemoryError may be in a bad state: start afresh
        else:
            self._give(worker)
        result = self._result(source, reply)
        if isinstance(result, LoadError):
            raise result
        out: T = result
        return out

    def call_batch(self, items: list[tuple[str, Callable[..., Any], tuple[Any, ...]]],
                   cancel: threading.Event | None = None) -> list[Any]:
        """Run several small items in one round trip (results or ``LoadError`` each, in order).
        The batch has a short deadline; if it runs over, crashes or runs out of memory, the items
        it did not finish are run again one by one under the full limits, so a bad item still
        costs only itself."""
        if len(items) == 1:
            source, fn, args = items[0]
            return [self._call_caught(source, fn, args, cancel)]
        worker = self._take()
        try:
            replies = self._exchange(worker, ("many", [(fn, args) for _s, fn, args in items]), items[0][0],
                                     min(self.limits.timeout_s, BATCH_TIMEOUT_S), cancel)
        except LoadError:
            return [self._call_caught(source, fn, args, cancel) for source, fn, args in items]
        if any(r[0] == "memory" for r in replies):
            self._discard(worker)
        else:
            self._give(worker)
        return [self._call_caught(source, fn, args, cancel) if reply[0] == "memory" else self._result(source, reply)
                for (source, fn, args), reply in zip(items, replies)]

    def _call_caught(self, source: str, fn: Callable[..., Any], args: tuple[Any, ...],
                     cancel: threading.Event | None) -> Any:
        try:
            return self.call(source, fn, *args, cancel=cancel)
        except LoadError as exc:
            return exc

    def _memory_text(self) -> str:
        mb = self.limits.memory_mb
        return f"{mb / 1024:g} GB" if mb >= 1024 else f"{mb} MB"

    def map(self, items: Iterable[tuple[str, Callable[..., T] | None, tuple[Any, ...]]],
            cancel: threading.Event | None = None,
            small: Callable[[str, tuple[Any, ...]], bool] | None = None) -> Iterator[tuple[str, T | LoadError]]:
        """Run ``(source, fn, args)`` items on all workers at once; yields ``(source, result or
        LoadError)`` in input order. An item whose ``fn`` is None yields ``args[0]`` as it is.
        Consecutive items that ``small(source, args)`` calls small share a round trip (up to
        ``BATCH_ITEMS``), which keeps many small files cheap. Stops submitting when ``cancel`` is
        set; ``ImportCancelled`` ends the iteration."""
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.size, thread_name_prefix="footnote-parse")
            threads = self._threads
        pending: deque[tuple[list[str], Future[list[Any]]]] = deque()
        it = iter(items)
        held: tuple[str, Callable[..., T] | None, tuple[Any, ...]] | None = None
        exhausted = False

        def next_group() -> tuple[list[str], Future[list[Any]]] | None:
            nonlocal held, exhausted
            group: list[tuple[str, Callable[..., Any], tuple[Any, ...]]] = []
            while len(group) < BATCH_ITEMS:
                if held is not None:
                    item, held = held, None
                else:
                    if exhausted or (cancel is not None and cancel.is_set()):
                        exhausted = True
                        break
                    try:
                        item = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                source, fn, args = item
                if fn is None:  # a result known already (a walk error): keeps its place in order
                    if group:
                        held = item
                        break
                    known: Future[list[Any]] = Future()
                    known.set_result([args[0]])
                    return [source], known
                if small is None or not small(source, args):
                    if group:
                        held = item
                        break
                    group.append((source, fn, args))
                    break
                group.append((source, fn, args))
            if not group:
                return None
            return [s for s, _f, _a in group], threads.submit(self.call_batch, group, cancel)

        try:
            while True:
                while len(pending) < self.size + 1:
                    nxt = next_group()
                    if nxt is None:
                        break
                    pending.append(nxt)
                if not pending:
                    return
                sources, future = pending.popleft()
                yield from zip(sources, future.result())
        finally:
            for _sources, future in pending:
                future.cancel()

    def close(self) -> None:
        """Stop every worker now; a call still running fails as cancelled or crashed."""
        with self._lock:
            self._closed = True
            live = list(self._live)
            self._live.clear()
            threads, self._threads = self._threads, None
        idle: set[_Worker] = set()
        while True:
            try:
                idle.add(self._idle.get_nowait())
            except queue.Empty:
                break
        for worker in live:
            if worker in idle:
                worker.kill()
            else:  # a call owns it: that call sees the pipe end, fails as cancelled and closes it
                worker.end_process()
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ParseGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
