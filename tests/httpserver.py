"""A real HTTP server on 127.0.0.1 for tests: routes map a path to a canned or computed response.

Tests talk to it over real sockets, so URL import is exercised end to end without mocks. Every
sleep (``delay``, ``chunk_delay``) happens in short steps that end as soon as the server stops, and
stopping shuts down open connections and joins every handler thread, so a test never leaves a
thread or socket behind (pytest runs with ``filterwarnings = error``).

Typical use, through the ``http_server`` fixture in ``tests/conftest.py``::

    def test_page(http_server):
        http_server.route("/", body="<h1>Hi</h1>")
        http_server.route("/old", redirect_to="/")
        http_server.robots("User-agent: *\\nDisallow: /private")
        fetch(http_server.url("/old"))
        assert http_server.hits("/") == 1

A download (model files) is served by ``route_file``: Range requests answered with 206 (or
ignored, ``ranges=False``), a body cut short after a number of bytes (``truncate_after``, the
Content-Length still promising the whole), and a slow trickle (``chunk_delay`` between chunks).

Outside pytest: ``with HttpServer() as server: ...``.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

Body = str | bytes | Iterable[bytes] | Callable[[], Iterable[bytes]]
_STEP = 0.02


@dataclass(frozen=True)
class Request:
    """One request as the server saw it (``path`` includes the query string)."""

    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Response:
    """What a route answers. ``body`` may be text, bytes, or an iterable (or factory) of byte chunks;
    an iterable body is sent without Content-Length unless ``headers`` gives one."""

    body: Body = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "text/html; charset=utf-8"
    delay: float = 0.0
    chunk_delay: float = 0.0
    redirect_to: str | None = None


Handler = Callable[[Request], Response]


class _Server(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins every handler thread

    def __init__(self, owner: HttpServer) -> None:
        self.owner = owner
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def abort_connections(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up mid-response (size caps, timeouts) is normal in these tests.
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads
    timeout = 10.0

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature from the base class
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._serve()

    def do_HEAD(self) -> None:  # noqa: N802
        self._serve(head=True)

    def do_POST(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self, head: bool = False) -> None:
        owner = self.server.owner
        request = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
        owner._record(request)
        response = owner._resolve(request)
        try:
            if not owner._sleep(response.delay):
                return
            self._send(response, head)
        except (TimeoutError, BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            pass

    def _send(self, response: Response, head: bool) -> None:
        owner = self.server.owner
        status = response.status
        headers = dict(response.headers)
        if response.redirect_to is not None:
            if status == 200:
                status = 302
            headers.setdefault("Location", response.redirect_to)
        body = response.body
        if callable(body):
            body = body()
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(status)
        if response.content_type is not None and not any(k.lower() == "content-type" for k in headers):
            self.send_header("Content-Type", response.content_type)
        if isinstance(body, bytes) and not any(k.lower() == "content-length" for k in headers):
            self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if head:
            return
        chunks: Iterable[bytes] = [body] if isinstance(body, bytes) else body
        for i, chunk in enumerate(chunks):
            if i and not owner._sleep(response.chunk_delay):
                return
            if owner.stopped.is_set():
                return
            self.wfile.write(chunk)
        self.wfile.flush()


class HttpServer:
    """A threaded ``http.server`` on 127.0.0.1 with a free port. Unknown paths answer 404."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.requests: list[Request] = []
        self._routes: dict[str, Handler] = {}
        self._lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> HttpServer:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: sleeping handlers wake and quit, open connections are cut, threads joined."""
        self.stopped.set()
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.abort_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the server is not running")
        return int(self._server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        """Absolute URL for ``path`` on this server."""
        return self.origin + (path if path.startswith("/") else "/" + path)

    # -- routes ------------------------------------------------------------------------------
    def route(
        self,
        path: str,
        body: Body = b"",
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        content_type: str | None = "text/html; charset=utf-8",
        delay: float = 0.0,
        chunk_delay: float = 0.0,
        redirect_to: str | None = None,
        handler: Handler | None = None,
    ) -> None:
        """Answer ``path`` (optionally with ``?query`` for an exact match) with a fixed response, or
        call ``handler(request)`` for a computed one. ``redirect_to`` sends a 302 (or ``status``, if
        it is a 3xx) with that Location. ``delay`` sleeps before the headers; ``chunk_delay`` between
        chunks of an iterable body. ``content_type=None`` sends no Content-Type header."""
        if handler is None:
            fixed = Response(
                body=body,
                status=status,
                headers=dict(headers or {}),
                content_type=content_type,
                delay=delay,
                chunk_delay=chunk_delay,
                redirect_to=redirect_to,
            )

            def handler(_request: Request) -> Response:
                return fixed

        with self._lock:
            self._routes[path] = handler

    def route_file(
        self,
        path: str,
        payload: bytes,
        *,
        ranges: bool = True,
        truncate_after: int | None = None,
        chunk_size: int = 1 << 16,
        chunk_delay: float = 0.0,
        delay: float = 0.0,
    ) -> None:
        """Serve ``payload`` as a download. With ``ranges``, ``Range: bytes=N-`` gets a 206 with the
        rest (416 past the end); without, every request gets the whole file with 200.
        ``truncate_after`` sends only that many bytes of the body and hangs up, although
        Content-Length promises all of it."""

        def handler(request: Request) -> Response:
            start, status = 0, 200
            headers = {"Accept-Ranges": "bytes"} if ranges else {}
            m = re.fullmatch(r"bytes=(\d+)-", request.headers.get("range", "").strip())
            if ranges and m:
                start = int(m.group(1))
                if start >= len(payload):
                    return Response(status=416, headers={"Content-Range": f"bytes */{len(payload)}"},
                                    content_type=None)
                status = 206
                headers["Content-Range"] = f"bytes {start}-{len(payload) - 1}/{len(payload)}"
            body = payload[start:]
            headers["Content-Length"] = str(len(body))
            if truncate_after is not None:
                body = body[:truncate_after]
            chunks = [body[i:i + chunk_size] for i in range(0, len(body), chunk_size)]
            return Response(body=chunks, status=status, headers=headers, content_type="application/octet-stream",
                            chunk_delay=chunk_delay, delay=delay)

        self.route(path, handler=handler)

    def robots(self, text: str, *, status: int = 200) -> None:
        """Serve ``/robots.txt``."""
        self.route("/robots.txt", text, status=status, content_type="text/plain; charset=utf-8")

    # -- what happened -----------------------------------------------------------------------
    def hits(self, path: str) -> int:
        """How many requests asked for ``path`` (compared without the query unless ``path`` has one)."""
        with self._lock:
            if "?" in path:
                return sum(1 for r in self.requests if r.path == path)
            return sum(1 for r in self.requests if urlsplit(r.path).path == path)

    @property
    def paths(self) -> list[str]:
        with self._lock:
            return [r.path for r in self.requests]

    # -- used by the handler thread ----------------------------------------------------------
    def _record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def _resolve(self, request: Request) -> Response:
        with self._lock:
            handler = self._routes.get(request.path) or self._routes.get(urlsplit(request.path).path)
        if handler is None:
            return Response(
                body=f"{HTTPStatus.NOT_FOUND.phrase}: {request.path}", status=404, content_type="text/plain"
            )
        return handler(request)

    def _sleep(self, seconds: float) -> bool:
        """Sleep in short steps; False if the server stopped meanwhile."""
        end = time.monotonic() + seconds
        while True:
            if self.stopped.is_set():
                return False
            left = end - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(_STEP, left))
