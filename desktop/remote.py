"""Talking to a running Footnote window, from the CLI or a second window: no Qt on this side.

The window listens on a ``QLocalServer`` at a socket path inside a directory only this user can
enter (``$XDG_RUNTIME_DIR/footnote``, else ``<tmp>/footnote-<uid>``, checked to be ours and 0700),
one socket per data folder. On POSIX a ``QLocalServer`` given a path binds a plain AF_UNIX socket
there, so this side uses Python's ``socket`` module: it works the same in the source tree and the
PyInstaller build, and the CLI never loads Qt.

The protocol is JSON lines. The client sends one request and reads replies until ``exit``:

- ``{"v": 1, "op": "open", "sources": [...]}``: raise the window and import these (``footnote
  FILE…``, or "Open with Footnote" in a file manager). Reply: ``{"exit": 0}``.
- ``{"v": 1, "op": "run", "command": "search", "args": {...}, "cwd": "/..."}``: run one library
  command on the window's engine, in a worker. Replies: ``{"accepted": true}`` at once, then
  ``{"out": text}`` / ``{"err": text}`` in the order the CLI would have printed them, then
  ``{"exit": code}``.

Nothing secret travels: ``key`` is never forwarded, and the window reads the OpenAI key from the
keyring itself when an answer needs it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import socket
import stat
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from core.errors import FootnoteError

log = logging.getLogger(__name__)

PROTOCOL = 1
#: Commands that need the library; with a window open they run there instead of failing as locked.
LIBRARY_COMMANDS = ("ingest", "search", "list", "remove", "ask", "related", "watch")
#: Of these commands, only these subcommands need the library (the others run in the CLI itself).
WINDOW_SUBCOMMANDS = {"watch": ("sync", "remove")}


def runs_in_window(args: argparse.Namespace) -> bool:
    """Whether this command needs the library, so that a running window must run it."""
    if args.command not in LIBRARY_COMMANDS:
        return False
    subcommands = WINDOW_SUBCOMMANDS.get(args.command)
    return subcommands is None or getattr(args, f"{args.command}_command", None) in subcommands
#: Arguments that never travel: the window uses its own data folder, log level and handlers.
LOCAL_ARGS = {"func", "data_dir", "verbose", "self_test", "command"}
CONNECT_TIMEOUT_S = 2.0
#: A window that accepted the connection must say so this soon; a frozen one is reported, not waited on.
ACCEPT_TIMEOUT_S = 15.0
MAX_LINE = 1 << 20


class WindowError(FootnoteError):
    """The window was found but did not answer as it should."""


def supported() -> bool:
    return os.name == "posix" and hasattr(socket, "AF_UNIX")


def _private_dir(path: Path) -> Path | None:
    """``path`` as a directory only this user can enter, or None if it is someone else's."""
    try:
        path.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(path)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.getuid():
            log.warning("socket folder not ours path=%s", path)
            return None
        if st.st_mode & 0o077:
            os.chmod(path, 0o700)
    except OSError as exc:
        log.warning("socket folder unusable path=%s error=%s", path, exc.strerror)
        return None
    return path


def socket_dir() -> Path | None:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        found = _private_dir(Path(runtime) / "footnote")
        if found is not None:
            return found
    return _private_dir(Path(tempfile.gettempdir()) / f"footnote-{os.getuid()}")


def data_key(data_dir: Path) -> str:
    return hashlib.sha256(str(Path(data_dir).expanduser().resolve()).encode("utf-8")).hexdigest()[:16]


def server_address(data_dir: Path) -> str | None:
    """Where the window for this data folder listens; None when no private folder is available."""
    if not supported():
        return None
    folder = socket_dir()
    return str(folder / f"{data_key(data_dir)}.sock") if folder is not None else None


def to_source(item: str, cwd: str | Path) -> str:
    """A command-line argument as the engine takes it: ``file://`` URLs from file managers become
    paths, web URLs stay, and relative paths are made absolute against the caller's folder."""
    if item.lower().startswith("file:"):
        parsed = urllib.parse.urlsplit(item)
        if parsed.netloc in ("", "localhost"):
            return urllib.request.url2pathname(parsed.path)
        return item  # a file on another host: the engine says it cannot read it
    if "://" in item:
        return item
    return os.path.abspath(os.path.join(cwd, os.path.expanduser(item)))


def to_sources(items: list[str], cwd: str | Path | None = None) -> list[str]:
    where = os.getcwd() if cwd is None else cwd
    return [to_source(i, where) for i in items]


class Channel:
    """One connection to the window: send a request, then read its JSON lines."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader = sock.makefile("rb")

    def send(self, obj: dict[str, Any]) -> None:
        self.sock.sendall(json.dumps({"v": PROTOCOL, **obj}).encode("utf-8") + b"\n")

    def messages(self, first_timeout_s: float | None = ACCEPT_TIMEOUT_S) -> Iterator[dict[str, Any]]:
        self.sock.settimeout(first_timeout_s)
        while True:
            try:
                line = self.reader.readline(MAX_LINE)
            except TimeoutError:
                raise WindowError("the Footnote window on this library did not answer") from None
            self.sock.settimeout(None)  # an import may take minutes; Ctrl+C ends the wait
            if not line:
                return
            try:
                msg = json.loads(line)
            except ValueError:
                raise WindowError("the Footnote window sent something that is not a reply") from None
            if isinstance(msg, dict):
                yield msg

    def close(self) -> None:
        self.reader.close()
        self.sock.close()


def connect(data_dir: Path) -> Channel | None:
    """A channel to the window on this data folder, or None when none is running."""
    address = server_address(data_dir)
    if address is None or not os.path.exists(address):
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT_S)
    try:
        sock.connect(address)
    except OSError as exc:  # a stale socket of a window that crashed
        log.info("no window answered address=%s error=%s", address, exc.strerror or exc)
        sock.close()
        return None
    return Channel(sock)


def send_open(data_dir: Path, sources: list[str]) -> bool:
    """True when a running window took these sources (and came forward); False when none runs."""
    channel = connect(data_dir)
    if channel is None:
        return False
    try:
        channel.send({"op": "open", "sources": sources})
        for msg in channel.messages(CONNECT_TIMEOUT_S):
            if "exit" in msg:
                return bool(msg["exit"] == 0)
        return False
    except (OSError, WindowError) as exc:
        log.info("window did not take the request error=%s", exc)
        return False
    finally:
        channel.close()


def window_running(data_dir: Path) -> bool:
    channel = connect(data_dir)
    if channel is None:
        return False
    channel.close()
    return True


def request_args(args: argparse.Namespace) -> dict[str, Any]:
    """The parsed command's options as they travel: plain JSON values only."""
    out: dict[str, Any] = {}
    for key, value in vars(args).items():
        if key in LOCAL_ARGS:
            continue
        if isinstance(value, Path):
            value = str(value)
        if value is None or isinstance(value, (str, int, float, bool)) or (
                isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)):
            out[key] = value
    return out


def forward(data_dir: Path, args: argparse.Namespace, out: IO[str], err: IO[str]) -> int | None:
    """Run a library command in the window that holds this library, printing what it prints;
    the exit code, or None when no window runs (the caller then opens the library itself)."""
    channel = connect(data_dir)
    if channel is None:
        return None
    try:
        channel.send({"op": "run", "command": args.command, "args": request_args(args), "cwd": os.getcwd()})
        log.info("forwarded to the window command=%s", args.command)
        first = True
        for msg in channel.messages():
            if first and not msg.get("accepted"):
                raise WindowError(str(msg.get("error") or "the Footnote window refused the request"))
            first = False
            text = msg.get("out")
            if isinstance(text, str):
                out.write(text)
                out.flush()
            text = msg.get("err")
            if isinstance(text, str):
                err.write(text)
                err.flush()
            if "exit" in msg:
                code = msg["exit"]
                return code if isinstance(code, int) else 1
        raise WindowError("the Footnote window closed before the command finished")
    except (ConnectionError, BrokenPipeError):
        raise WindowError("the Footnote window closed before the command finished") from None
    finally:
        channel.close()
