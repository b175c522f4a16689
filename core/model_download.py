"""Download one model file: resumable, cancellable, verified, and never half-done under its name.

The bytes go to ``<file>.part``. An interrupted download (a dropped connection, a stalled server, a
cancel, a killed process) keeps the ``.part`` and the next attempt asks for the rest with an HTTP
Range request; a server that ignores Range (200 instead of 206) makes it start again from zero.
The SHA-256 is computed while the bytes arrive (the bytes already in ``.part`` are read once to
continue it), and only a file whose size and hash match is renamed to its final name and stamped.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import model_stamps
from core.errors import ModelError

log = logging.getLogger(__name__)

_PROGRESS_EVERY_S = 0.1
MIN_RATE = 1024  # bytes/s: slower than this over a whole window (4 x timeout) is a stalled download


class DownloadCancelled(ModelError):
    """The user cancelled; the ``.part`` file stays so that the next attempt resumes."""


@dataclass(frozen=True)
class DownloadProgress:
    done_bytes: int
    total_bytes: int
    bytes_per_s: float
    eta_s: float | None


ProgressFn = Callable[[DownloadProgress], None]


def _mb(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


class _Meter:
    """Speed over the bytes fetched in this attempt (not the resumed ones), reported at most every
    0.1 s; ``too_slow`` is true when a whole window passed at less than ``MIN_RATE`` (a server that
    trickles a few bytes just often enough never trips the read timeout)."""

    def __init__(self, progress: ProgressFn | None, start_bytes: int, total: int, window_s: float) -> None:
        self.progress = progress
        self.start_bytes = start_bytes
        self.total = total
        self.t0 = time.monotonic()
        self.last = 0.0
        self.window_s = window_s
        self.window = (self.t0, start_bytes)

    def too_slow(self, done: int) -> bool:
        now = time.monotonic()
        t, at = self.window
        if now - t < self.window_s:
            return False
        self.window = (now, done)
        return (done - at) / (now - t) < MIN_RATE

    def report(self, done: int, final: bool = False) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if not final and now - self.last < _PROGRESS_EVERY_S:
            return
        self.last = now
        elapsed = max(now - self.t0, 1e-6)
        rate = (done - self.start_bytes) / elapsed
        eta = (self.total - done) / rate if rate > 0 and self.total >= done else None
        self.progress(DownloadProgress(done, self.total, rate, 0.0 if final else eta))


def _hash_prefix(part: Path) -> tuple[Any, int]:
    h = hashlib.sha256()
    have = 0
    if part.exists():
        with part.open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
                have += len(block)
    return h, have


def _range_start(resp: Any) -> int | None:
    m = re.match(r"bytes\s+(\d+)-", resp.headers.get("content-range", ""))
    return int(m.group(1)) if m else None


def download_model_file(
    url: str,
    dest: Path,
    sha256: str,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    timeout: float = 30.0,
    *,
    size: int | None = None,
    name: str | None = None,
) -> Path:
    """Fetch ``url`` into ``dest`` (via ``dest.part``), check ``size`` (when given) and ``sha256``,
    rename, and write the stamp. Errors are ModelErrors that name the file and say what to do;
    ``timeout`` bounds connecting and each wait for data."""
    import httpx

    label = name or dest.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    h, have = _hash_prefix(part)
    if size is not None and have > size:
        part.unlink()
        h, have = hashlib.sha256(), 0
    resume_hint = "run the install again to resume"
    for attempt in range(2):
        # identity: a compressed body would make Content-Length and Range count other bytes
        headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
        total = size or 0
        try:
            with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(timeout),
                              follow_redirects=True) as resp:
                if resp.status_code == 416 and have and attempt == 0:
                    # What we have is not a prefix the server recognises (or is already whole).
                    if size is not None and have == size:
                        break
                    part.unlink(missing_ok=True)
                    h, have = hashlib.sha256(), 0
                    continue
                if resp.status_code not in (200, 206):
                    raise ModelError(f"{label}: download failed: {url} answered HTTP {resp.status_code}")
                if resp.status_code == 206 and _range_start(resp) != have:
                    raise ModelError(f"{label}: download failed: {url} sent a different range than asked")
                if resp.status_code == 200 and have:
                    log.info("server ignored the range request url=%s; starting again", url)
                    h, have = hashlib.sha256(), 0
                length = resp.headers.get("content-length")
                if length is not None and length.isdigit():
                    total = have + int(length)
                    if size is not None and total != size:
                        raise ModelError(f"{label}: the server offers {_mb(total)}, expected {_mb(size)}; "
                                         "the catalog entry or the URL is wrong")
                meter = _Meter(progress, have, total, window_s=4 * timeout)
                with part.open("ab" if have else "wb") as fh:
                    for block in resp.iter_bytes():
                        if cancel is not None and cancel.is_set():
                            raise DownloadCancelled(f"{label}: download cancelled; {resume_hint}")
                        fh.write(block)
                        h.update(block)
                        have += len(block)
                        if size is not None and have > size:
                            part.unlink(missing_ok=True)
                            raise ModelError(f"{label}: the server sent more than the expected {_mb(size)}")
                        meter.report(have)
                        if meter.too_slow(have):
                            raise ModelError(f"{label}: the server is too slow (under {MIN_RATE // 1024} KB/s for "
                                             f"{4 * timeout:g} s, {_mb(have)} so far); {resume_hint}")
                meter.report(have, final=True)
        except httpx.TimeoutException:
            raise ModelError(f"{label}: the server sent nothing for {timeout:g} s ({_mb(have)} so far); "
                             f"{resume_hint}") from None
        except httpx.HTTPError as exc:
            raise ModelError(f"{label}: download interrupted at {_mb(have)} ({type(exc).__name__}: {exc}); "
                             f"{resume_hint}") from None
        expected_total = size if size is not None else total
        if expected_total and have < expected_total:
            raise ModelError(f"{label}: the connection closed at {_mb(have)} of {_mb(expected_total)}; {resume_hint}")
        break
    digest = h.hexdigest()
    if digest != sha256:
        part.unlink(missing_ok=True)
        raise ModelError(f"{label}: the downloaded file is corrupt (sha256 {digest[:12]}…, expected {sha256[:12]}…);"
                         " it was deleted, try again")
    os.replace(part, dest)
    model_stamps.write_stamp(dest, digest)
    log.info("model downloaded file=%s bytes=%d", dest, have)
    return dest
