"""uvicorn in a background thread with its own event loop, for ``footnote serve`` and the window.

The socket is bound here, before uvicorn starts, so that a port in use is one clear error at
once (uvicorn itself would log it and exit the thread) and port 0 gives a free port.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from core.errors import FootnoteError

log = logging.getLogger(__name__)

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
START_TIMEOUT_S = 20.0


class ServerStartError(FootnoteError):
    """The API could not listen (a port in use, an address this machine does not have)."""


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = "the port is in use" if exc.errno in (98, 48, 10048) else (exc.strerror or str(exc))
        raise ServerStartError(f"{host}:{port}: the local API cannot listen here ({reason})") from None
    sock.set_inheritable(False)
    return sock


class ApiServer:
    """One uvicorn server; ``start`` returns once it accepts connections."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 5151) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout_s: float = START_TIMEOUT_S) -> None:
        import uvicorn

        sock = bind(self.host, self.requested_port)
        self.port = int(sock.getsockname()[1])
        config = uvicorn.Config(self.app, log_config=None, access_log=False, lifespan="off",
                                timeout_graceful_shutdown=3, ws="none")
        self._server = server = uvicorn.Server(config)

        def run() -> None:
            try:
                server.run(sockets=[sock])
            except BaseException as exc:  # noqa: BLE001 - reported by start() or stop()
                self._error = exc
            finally:
                sock.close()

        self._thread = threading.Thread(target=run, name="footnote-api", daemon=True)
        self._thread.start()
        waited = threading.Event()
        step = 0.02
        elapsed = 0.0
        while not server.started and self._thread.is_alive() and elapsed < timeout_s:
            waited.wait(step)
            elapsed += step
        if not server.started:
            self.stop()
            detail = type(self._error).__name__ if self._error else "it did not start in time"
            raise ServerStartError(f"{self.host}:{self.port}: the local API did not start ({detail})")
        log.info("api listening host=%s port=%d", self.host, self.port)

    def wait(self) -> None:
        """Block until the server ends (``footnote serve``); Ctrl-C reaches the caller between waits."""
        while self._thread is not None and self._thread.is_alive():
            self._thread.join(0.5)

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Ask the server to end and wait up to ``timeout_s``; True when it ended."""
        state = getattr(getattr(self.app, "state", None), "footnote", None)
        if state is not None:
            state.close()  # answers stop within a token, queued imports are cancelled
        if self._server is not None:
            self._server.should_exit = True
        thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                if self._server is not None:
                    self._server.force_exit = True
                thread.join(1.0)
                log.warning("api server still stopping after %.1fs", timeout_s)
                return False
        log.info("api stopped port=%d", self.port)
        return True


class OpenedEngine:
    """The host for an engine this process opened itself (``footnote serve``, tests, benchmarks)."""

    def __init__(self, engine: Any) -> None:
        self._engine = engine

    def engine(self) -> Any:
        return self._engine

    def library_changed(self) -> None:
        """Nobody else shows the library in this process."""
