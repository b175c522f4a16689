"""One window per library: a second ``footnote`` on the same data folder brings the first forward.

The first instance listens on a ``QLocalServer`` whose name is derived from the resolved data
folder (and the user id, so users never collide). A second instance connects, says ``activate``,
waits for ``ok`` and exits 0. If nobody answers, the engine's folder lock is still the backstop:
another process (the CLI, say) holding the library gets a clear message in the window.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

from desktop.workers import emit

log = logging.getLogger(__name__)

ACTIVATE = b"activate\n"
ACK = b"ok\n"


def server_name(data_dir: Path) -> str:
    digest = hashlib.sha256(str(Path(data_dir).expanduser().resolve()).encode("utf-8")).hexdigest()[:16]
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return f"footnote-{uid}-{digest}"


class SingleInstance(QObject):
    activated = Signal()

    def __init__(self, data_dir: Path, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = server_name(data_dir)
        self.server: QLocalServer | None = None

    def notify_running(self, timeout_ms: int = 1500) -> bool:
        """True when another instance answered our ``activate``; it raises its window."""
        sock = QLocalSocket()
        sock.connectToServer(self.name)
        if not sock.waitForConnected(timeout_ms):
            return False
        sock.write(ACTIVATE)
        sock.flush()
        sock.waitForBytesWritten(timeout_ms)
        ok = sock.waitForReadyRead(timeout_ms) and bytes(sock.readAll().data()).startswith(ACK)
        sock.disconnectFromServer()
        log.info("second instance notify name=%s acknowledged=%s", self.name, ok)
        return ok

    def listen(self) -> bool:
        server = QLocalServer(self)
        server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
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

    def _accept(self) -> None:
        assert self.server is not None
        while self.server.hasPendingConnections():
            sock = self.server.nextPendingConnection()
            sock.readyRead.connect(lambda s=sock: self._read(s))
            sock.disconnected.connect(sock.deleteLater)

    def _read(self, sock: QLocalSocket) -> None:
        data = bytes(sock.readAll().data())
        if data.startswith(ACTIVATE.strip()):
            sock.write(ACK)
            sock.flush()
            log.info("activated by a second instance")
            emit(self.activated)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
