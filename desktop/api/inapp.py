"""The local API inside the window: the same server as ``footnote serve``, over the window's own
engine (only one process may hold a library). Qt-free; ``Services`` calls ``apply`` from a worker
(importing FastAPI and binding the port must not stall the GUI thread) and ``stop`` at quit."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from core.errors import FootnoteError

log = logging.getLogger(__name__)


class _Host:
    def __init__(self, engine: Callable[[], Any], changed: Callable[[], None]) -> None:
        self._engine = engine
        self._changed = changed

    def engine(self) -> Any:
        return self._engine()

    def library_changed(self) -> None:
        self._changed()


class InAppApi:
    """Starts, restarts (a new port) or stops the server to match the settings."""

    def __init__(self, engine: Callable[[], Any], library_changed: Callable[[], None]) -> None:
        self._host = _Host(engine, library_changed)
        self._server: Any = None
        self._lock = threading.Lock()
        self.status = "off"

    @property
    def url(self) -> str:
        return str(self._server.url) if self._server is not None else ""

    def apply(self, enabled: bool, port: int) -> str:
        """Bring the server in line with the switch; the sentence to show (the error when it cannot)."""
        with self._lock:
            if self._server is not None and (not enabled or self._server.port != port):
                self._server.stop()
                self._server = None
            if not enabled:
                self.status = "off"
                return "Local API off"
            if self._server is not None:
                return self.status
            from core import secrets
            from desktop.api import ApiConfig, ApiServer, create_app

            try:
                secrets.api_token()  # fails now, in one line, when no keyring and no FOOTNOTE_API_TOKEN
                server = ApiServer(create_app(self._host, secrets.api_token, ApiConfig(port=port)), "127.0.0.1", port)
                server.start()
            except FootnoteError as exc:
                self.status = f"Local API not started: {exc}"
                log.warning("in-app api not started error=%s", exc)
                return self.status
            self._server = server
            self.status = f"Local API running at {server.url}/v1 (documentation at {server.url}/docs)"
            return self.status

    def stop(self, timeout_s: float = 2.0) -> None:
        with self._lock:
            if self._server is not None:
                self._server.stop(timeout_s)
                self._server = None
                self.status = "off"
