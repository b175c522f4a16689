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
    """The child's loop: receive ``(function, args)``, send back one tagged result."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C is the parent's to handle
    _limit_memory(limit_bytes)
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        fn, args = task
        reply: tuple[Any, ...]
        try:
            reply = ("ok", fn(*args))
        except LoadError as exc:
            reply = ("load", type(exc), exc.source, exc.reason)
        except MemoryError:
            reply = ("memory",)
        except BaseException as exc:  # noqa: BLE001 - any reader bug becomes this item's failure
            reply = ("error", type(exc).__name__)
        try:
            conn.send(reply)
        except MemoryError:
            conn.send(("memory",))
        except (OSError, ValueError):  # the parent went away
            return
        except Exception as exc:  # noqa: BLE001 - a result that cannot be pickled
            conn.send(("error", type(exc).__name__))


class _Worker:
    def __init__(self, ctx: Any, limit_bytes: int) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.conn: Connection = parent
        self.process = ctx.Process(target=_worker_main, args=(child, limit_bytes), daemon=True,
                                   name="footnote-parse")
        self.process.start()
        child.close()

    def kill(self) -> None:
        try:
            self.process.kill()
        except (OSError, ValueError):
            pass
        self.process.join(2)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(1)
        if self.process.is_alive():
            self.kill()
        else:
            self.conn.close()


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
        with self._lock:
            closed = self._closed
        if closed:
            self._forget(worker)
            worker.stop()
        else:
            self._idle.put(worker)
        self._free.release()

    def _discard(self, worker: _Worker) -> None:
        self._forget(worker)
        worker.kill()
        self._free.release()

    def _forget(self, worker: _Worker) -> None:
        with self._lock:
            self._live.discard(worker)

    # -- calls ----------------------------------------------------------------------------------

    def call(self, source: str, fn: Callable[..., T], *args: Any, cancel: threading.Event | None = None) -> T:
        """Run ``fn(*args)`` in a worker. Returns its result or raises ``LoadError`` for ``source``
        (``ImportCancelled`` when ``cancel`` is set while it runs). ``fn`` must be importable."""
        worker = self._take()
        try:
            worker.conn.send((fn, args))
        except (OSError, ValueError):
            self._discard(worker)
            raise LoadError(source, "the reader could not be started") from None
        except Exception as exc:  # noqa: BLE001 - the task could not be pickled; the worker is untouched
            self._give(worker)
            raise LoadError(source, f"the reader could not be started ({type(exc).__name__})") from None
        timeout = self.limits.timeout_s
        deadline = time.monotonic() + timeout
        while True:
            if cancel is not None and cancel.is_set():
                self._discard(worker)
                raise ImportCancelled(f"{source}: import cancelled")
            left = deadline - time.monotonic()
            if left <= 0:
                self._discard(worker)
                log.warning("parse timeout source=%s limit_s=%s", source, timeout)
                raise LoadError(source, f"took longer than {timeout:g} s to read, so it was stopped")
            try:
                if worker.conn.poll(min(left, _POLL_S)):
                    reply = worker.conn.recv()
                    break
            except (EOFError, OSError):
                if self._closed:
                    self._discard(worker)
                    raise ImportCancelled(f"{source}: import cancelled") from None
                worker.process.join(2)
                reason = _crash_reason(worker.process.exitcode)
                self._discard(worker)
                log.warning("parse worker died source=%s exitcode=%s", source, worker.process.exitcode)
                raise LoadError(source, reason) from None
        tag = reply[0]
        if tag == "memory":
            # The worker may be in a bad state after MemoryError; start a fresh one next time.
            self._discard(worker)
            raise LoadError(source, f"needed more than {self._memory_text()} of memory to read, so it was stopped")
        self._give(worker)
        if tag == "ok":
            result: T = reply[1]
            return result
        if tag == "load":
            cls, _src, reason = reply[1], reply[2], reply[3]
            raise cls(source, reason)
        log.warning("reader error source=%s error=%s", source, reply[1])
        raise LoadError(source, f"the reader failed ({reply[1]})")

    def _memory_text(self) -> str:
        mb = self.limits.memory_mb
        return f"{mb / 1024:g} GB" if mb >= 1024 else f"{mb} MB"

    def map(self, items: Iterable[tuple[str, Callable[..., T] | None, tuple[Any, ...]]],
            cancel: threading.Event | None = None) -> Iterator[tuple[str, T | LoadError]]:
        """Run ``(source, fn, args)`` items on all workers at once; yields ``(source, result or
        LoadError)`` in input order. An item whose ``fn`` is None yields ``args[0]`` as it is.
        Stops submitting when ``cancel`` is set; ``ImportCancelled`` ends the iteration."""
        with self._lock:
            if self._threads is None:
                self._threads = ThreadPoolExecutor(self.size, thread_name_prefix="footnote-parse")
            threads = self._threads
        pending: deque[tuple[str, Future[Any]]] = deque()
        it = iter(items)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self.size + 1:
                    if cancel is not None and cancel.is_set():
                        exhausted = True
                        break
                    try:
                        source, fn, args = next(it)
                    except StopIteration:
                        exhausted = True
                        break
                    if fn is None:  # a result known already (a walk error): keeps its place in order
                        done: Future[Any] = Future()
                        done.set_result(args[0])
                        pending.append((source, done))
                    else:
                        pending.append((source, threads.submit(self.call, source, fn, *args, cancel=cancel)))
                if not pending:
                    return
                source, future = pending.popleft()
                try:
                    yield source, future.result()
                except LoadError as exc:
                    yield source, exc
        finally:
            for _source, future in pending:
                future.cancel()

    def close(self) -> None:
        """Stop every worker now; a call still running fails as cancelled or crashed."""
        with self._lock:
            self._closed = True
            live = list(self._live)
            self._live.clear()
            threads, self._threads = self._threads, None
        for worker in live:
            worker.kill()
        if threads is not None:
            threads.shutdown(wait=False, cancel_futures=True)

    def __enter__(self) -> ParseGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
