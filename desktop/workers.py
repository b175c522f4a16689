"""Worker threads for engine calls: the GUI thread only draws.

A worker runs a generator (or a plain function) on a ``QThreadPool`` thread and reports through
Qt signals, which Qt delivers on the GUI thread (queued connection). Like superqt's
``GeneratorWorker``, a worker yields, returns, errs and aborts; stopping is a ``threading.Event``
the engine checks between steps, so a stop request never needs to interrupt a C call.

Workers never touch widgets. They hold no reference to one either: a widget connects to the
signals and the worker forgets about it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)

def emit(signal: Any, *args: Any) -> None:
    """Every emit in ui/ and desktop/ goes through here: one place to adapt to binding quirks.

    At shutdown a worker may finish after the window deleted the QObject that owns its signals;
    PySide then raises "Signal source has been deleted". Nobody is left to hear it, so the emit
    is dropped (logged at debug) instead of ending the worker with a traceback.
    """
    try:
        signal.emit(*args)
    except RuntimeError as exc:
        if "deleted" not in str(exc):
            raise
        log.debug("signal dropped reason=source_deleted")


GeneratorFactory = Callable[[threading.Event], Iterator[Any]]



class WorkerSignals(QObject):
    """Signals live on a QObject owned by the GUI thread; the runnable itself is not a QObject."""

    yielded = Signal(object)
    returned = Signal(object)
    errored = Signal(object)  # the exception instance; never a formatted traceback
    finished = Signal()  # always last, after returned/errored/aborted
    aborted = Signal()


class Worker(QRunnable):
    """Runs ``factory(cancel)``. A generator's items are emitted one by one; anything else is returned.

    ``cancel`` is the worker's stop flag; the engine generators take it and check it between
    chunks and tokens. A worker that was cancelled emits ``aborted`` instead of ``returned``.
    """

    def __init__(self, factory: GeneratorFactory | Callable[[threading.Event], Any], name: str = "worker") -> None:
        super().__init__()
        self.setAutoDelete(False)  # the pool below keeps it alive until ``finished`` is delivered
        self.factory = factory
        self.name = name
        self.cancel_event = threading.Event()
        self.signals = WorkerSignals()
        self._done = threading.Event()

    def cancel(self) -> None:
        self.cancel_event.set()

    def _set_dropped(self) -> None:
        """Taken off the queue before it ran (the pool is closing)."""
        self._done.set()
        emit(self.signals.aborted)
        emit(self.signals.finished)

    @property
    def is_done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout_s: float) -> bool:
        return self._done.wait(timeout_s)

    def run(self) -> None:
        started = time.perf_counter()
        _lower_priority()
        try:
            result = self.factory(self.cancel_event)
            if isinstance(result, Iterator):
                try:
                    # No break on cancel: the engine's generators check the flag themselves and
                    # end within one step, which lets them record what happened (a cancelled
                    # import, a stopped answer) instead of being cut off.
                    for item in result:
                        emit(self.signals.yielded, item)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()  # lets the engine clean up a half-done document
            if self.cancel_event.is_set():
                emit(self.signals.aborted)
            else:
                emit(self.signals.returned, result if not isinstance(result, Iterator) else None)
        except BaseException as exc:  # noqa: BLE001 - reported to the GUI thread, never swallowed
            if not isinstance(exc, Exception):
                raise
            log.debug("worker failed name=%s error=%s", self.name, type(exc).__name__)
            emit(self.signals.errored, exc)
        finally:
            log.debug("worker finished name=%s seconds=%.3f", self.name, time.perf_counter() - started)
            self._done.set()
            emit(self.signals.finished)


WORKER_NICE = 10


def _lower_priority() -> None:
    """On a 2-core machine the GUI thread competes with ONNX and llama.cpp threads for the CPU.
    Linux keeps a nice value per thread and threads inherit it, so raising the worker thread's
    nice value also covers the compute threads the engine starts from it. The GUI thread keeps
    its normal priority, which keeps the heartbeat regular while the workers run flat out."""
    if not hasattr(os, "setpriority") or not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        current = os.getpriority(os.PRIO_PROCESS, tid)
        if current < WORKER_NICE:
            os.setpriority(os.PRIO_PROCESS, tid, WORKER_NICE)
    except OSError:
        pass


class WorkerPool(QObject):
    """Starts workers and remembers them until they finish, so close can stop and wait for all."""

    def __init__(self, parent: QObject | None = None, max_threads: int = 4) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max_threads)
        self._active: set[Worker] = set()
        # A finished worker's run() may still be unwinding on its pool thread when ``finished``
        # arrives here; dropping the last Python reference then would delete the C++ runnable
        # under it. Keep finished workers a little while before letting them go.
        self._retired: list[tuple[float, Worker]] = []
        self._lock = threading.Lock()
        self._closed = False  # quitting: nothing new starts

    def start(
        self,
        factory: Callable[[threading.Event], Any],
        *,
        name: str = "worker",
        on_yield: Callable[[Any], None] | None = None,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        on_finished: Callable[[], None] | None = None,
        on_aborted: Callable[[], None] | None = None,
    ) -> Worker:
        """Fluent in spirit (Anki's CollectionOp): pass what to do with each outcome."""
        worker = Worker(factory, name)
        sig = worker.signals
        if on_yield is not None:
            sig.yielded.connect(on_yield)
        if on_result is not None:
            sig.returned.connect(on_result)
        if on_error is not None:
            sig.errored.connect(on_error)
        if on_aborted is not None:
            sig.aborted.connect(on_aborted)
        if on_finished is not None:
            sig.finished.connect(on_finished)
        sig.finished.connect(lambda w=worker: self._forget(w))
        with self._lock:
            if self._closed:
                # Quitting: a late refresh or click must not start engine work the exit then waits on.
                log.debug("worker not started name=%s reason=closing", name)
                worker.cancel()
                return worker
            self._active.add(worker)
        self._pool.start(worker)
        return worker

    def _forget(self, worker: Worker) -> None:
        now = time.monotonic()
        with self._lock:
            self._active.discard(worker)
            self._retired = [(t, w) for t, w in self._retired if now - t < 5.0]
            self._retired.append((now, worker))

    def active(self) -> list[Worker]:
        with self._lock:
            return [w for w in self._active if not w.is_done]

    def cancel_all(self) -> None:
        for w in self.active():
            w.cancel()

    def close(self) -> None:
        """Start nothing more, drop what is queued, and cancel what runs (quitting). A dropped
        worker reports ``aborted`` and ``finished`` as a cancelled one would, so nothing waits on it."""
        with self._lock:
            self._closed = True
        for w in self.active():
            w.cancel()
            if self._pool.tryTake(w):  # still queued: it will never run
                w._set_dropped()

    def wait(self, deadline: float) -> bool:
        """Wait until ``deadline`` (``time.monotonic``) for the running workers; True when all ended."""
        ok = True
        for w in self.active():
            if not w.wait(max(0.0, deadline - time.monotonic())):
                log.info("worker still running name=%s", w.name)
                ok = False
        if ok:
            self._pool.waitForDone(int(max(0.0, deadline - time.monotonic()) * 1000) + 100)
        return ok

    def shutdown(self, timeout_s: float = 5.0) -> bool:
        """Cancel everything and wait up to ``timeout_s``; True when every worker ended in time."""
        self.close()
        return self.wait(time.monotonic() + timeout_s)
