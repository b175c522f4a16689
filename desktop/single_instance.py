"""One window per library, and the channel through which others reach it.

The first window listens on a ``QLocalServer`` at a per-user socket (``desktop.remote`` picks the
path: a 0700 folder of this user, one socket per resolved data folder; ``UserAccessOption`` on
top). A second ``footnote`` (or ``footnote FILE…``) connects, sends ``open`` with its sources,
and exits 0 once this window took them; the CLI's library commands send ``run`` and the window
runs them on its own engine (``desktop.remote_server``). If nobody answers, the engine's folder
lock is still the backstop: another process holding the library gets a clear message.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktop import remote
from desktop.workers import emit

if TYPE_CHECKING:
    from desktop.remote_server import CommandRunner
    from desktop.services import Services

log = logging.getLogger(__name__)

ACTIVATE = b"activate"  # what windows before the JSON protocol sent
MAX_CONNECTIONS = 16


def server_name(data_dir: Path) -> str:
    """The socket path on POSIX; elsewhere a local-server name derived from the folder and user."""
    address = remote.server_address(data_dir)
    if address is not None:
        return address
    digest = hashlib.sha256(str(Path(data_dir).expanduser().resolve()).encode("utf-8")).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return f"footnote-{uid}-{digest}"


class Connection(QObject):
    """One client. Worker threads hand it lines through ``line``, which Qt queues to the GUI
    thread that owns the socket (a ``QLocalSocket`` is used from its own thread only)."""

    line = Signal(bytes, bool)  # a JSON line, and whether it is the last one

    def __init__(self, sock: QLocalSocket, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sock = sock
        self.buffer = b""
        self.closed = False
        self.requested = False
        self.on_close: list[Any] = []
        self.line.connect(self._write)
        sock.disconnected.connect(self._gone)

    def send(self, obj: dict[str, Any]) -> None:
        """From any thread; an ``exit`` reply is the last and closes the connection."""
        emit(self.line, json.dumps(obj, ensure_ascii=False).encode("utf-8") + b"\n", "exit" in obj)

    def _write(self, data: bytes, last: bool) -> None:
        if self.closed:
            return
        self.sock.write(data)
        self.sock.flush()
        if last:
            self.sock.disconnectFromServer()  # after what is still queued has been written

    def _gone(self) -> None:
        if self.closed:
            return
        self.closed = True
        for callback in self.on_close:
            callback()
        self.sock.deleteLater()
        self.deleteLater()


class SingleInstance(QObject):
    activated = Signal()
    open_requested = Signal(list)  # sources that `footnote FILE…` (or a file manager) sent

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = Path(data_dir)
        self.name = server_name(data_dir)
        self.server: QLocalServer | None = None
        self.runner: CommandRunner | None = None
        self.connections: set[Connection] = set()

    def notify_running(self, sources: list[str] | None = None) -> bool:
        """True when a window on this library took our sources (if any) and came forward."""
        if remote.supported():
            ok = remote.send_open(self.data_dir, list(sources or []))
        else:  # no AF_UNIX (Windows): Qt's own socket, and only "come forward"
            ok = self._activate_with_qt()
        log.info("second instance notify name=%s acknowledged=%s sources=%d", self.name, ok, len(sources or []))
        return ok

    def _activate_with_qt(self, timeout_ms: int = 1500) -> bool:
        sock = QLocalSocket()
        sock.connectToServer(self.name)
        if not sock.waitForConnected(timeout_ms):
            return False
        sock.write(ACTIVATE + b"\n")
        sock.flush()
        sock.waitForBytesWritten(timeout_ms)
        ok = sock.waitForReadyRead(timeout_ms) and bytes(sock.readAll().data()).startswith(b"ok")
        sock.disconnectFromServer()
        return ok

    def listen(self) -> bool:
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        server.setMaxPendingConnections(MAX_CONNECTIONS)
        if not server.listen(self.name):
            # A stale socket file from a crashed instance: nobody answered, so it is safe to remove.
            QLocalServer.removeServer(self.name)
            if not server.listen(self.name):
                log.warning("single-instance server failed name=%s error=%s", self.name, server.errorString())
                return False
        server.newConnection.connect(self._accept)
        self.server = server
        log.info("single-instance server listening name=%s", self.name)
        return True

    def serve(self, services: Services) -> None:
        """Run the CLI's library commands on this window's engine from now on."""
        from desktop.remote_server import CommandRunner

        self.runner = CommandRunner(services, self)

    def _accept(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            sock = self.server.nextPendingConnection()
            if len(self.connections) >= MAX_CONNECTIONS:
                sock.abort()
                continue
            conn = Connection(sock, self)
            self.connections.add(conn)
            conn.on_close.append(lambda c=conn: self.connections.discard(c))
            sock.readyRead.connect(lambda c=conn: self._read(c))

    def _read(self, conn: Connection) -> None:
        if conn.closed or conn.requested:
            return
        conn.buffer += bytes(conn.sock.readAll().data())
        if b"\n" not in conn.buffer:
            if len(conn.buffer) > remote.MAX_LINE:
                conn.sock.abort()
            return
        line, _, conn.buffer = conn.buffer.partition(b"\n")
        conn.requested = True  # one request per connection
        self._dispatch(conn, line.strip())

    def _dispatch(self, conn: Connection, line: bytes) -> None:
        if line == ACTIVATE:
            conn.sock.write(b"ok\n")
            conn.sock.flush()
            self._bring_forward([])
            return
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        if not isinstance(request, dict):
            conn.send({"exit": 1, "error": "not a request"})
            return
        op = request.get("op")
        if op == "open":
            sources = [s for s in request.get("sources") or [] if isinstance(s, str)]
            self._bring_forward(sources)
            conn.send({"exit": 0})
        elif op == "run" and self.runner is not None:
            self.runner.run(request, conn)
        else:
            conn.send({"exit": 1, "error": f"this window does not take {str(op)[:40]!r} requests"})

    def _bring_forward(self, sources: list[str]) -> None:
        log.info("activated by a second instance sources=%d", len(sources))
        emit(self.activated)
        if sources:
            emit(self.open_requested, sources)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for conn in list(self.connections):
            conn._gone()
