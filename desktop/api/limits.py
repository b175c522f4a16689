"""Limits that keep the API from starving the window or the machine: request size, a rate per
token, and a bounded queue for answers."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RateLimiter:
    """A token bucket per API token: ``burst`` requests at once, refilled at ``per_second``.
    ``take`` returns 0 when the request may go, else the seconds until it could (for Retry-After)."""

    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = max(per_second, 1e-9)
        self.burst = max(1, burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        now = time.monotonic()
        with self._lock:
            level, last = self._buckets.get(key, (float(self.burst), now))
            level = min(float(self.burst), level + (now - last) * self.per_second)
            if level >= 1.0:
                self._buckets[key] = (level - 1.0, now)
                return 0.0
            self._buckets[key] = (level, now)
            return (1.0 - level) / self.per_second


def retry_after(seconds: float) -> str:
    """Retry-After is whole seconds, at least one."""
    return str(max(1, math.ceil(seconds)))


class AnswerSlots:
    """At most ``running + waiting`` answers admitted at once; one more is refused (503), so that
    a burst of questions queues a little and then says "busy" instead of growing without bound."""

    def __init__(self, running: int, waiting: int) -> None:
        self.capacity = max(1, running) + max(0, waiting)
        self._admitted = 0
        self._lock = threading.Lock()

    def try_acquire(self) -> bool:
        with self._lock:
            if self._admitted >= self.capacity:
                return False
            self._admitted += 1
            return True

    def release(self) -> None:
        with self._lock:
            self._admitted = max(0, self._admitted - 1)

    @property
    def admitted(self) -> int:
        return self._admitted


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` as an HTTPException, so FastAPI's body parsing passes it on as it is
    (any other exception there becomes a 400) and the error handler answers 413."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than the limit of {limit} bytes")
        self.limit = limit


class BodyLimit:
    """ASGI middleware: a request body over its limit gets 413 before the application reads it
    (declared Content-Length) or as soon as the streamed body passes the limit (chunked)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int],
                 too_large: Callable[[int], Callable[[Scope, Receive, Send], Awaitable[None]]]) -> None:
        self.app = app
        self.limit_for = limit_for
        self.too_large = too_large

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                size = -1
            if size > limit:
                await self.too_large(limit)(scope, receive, send)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message.get("type") == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await self.too_large(limit)(scope, receive, send)
