"""Functions the guarded parse worker runs in tests: each behaves like one kind of bad reader.

They live in an importable module because a worker process imports what it runs.
"""

from __future__ import annotations

import ctypes
import os
import time
from pathlib import Path

from core.documents import Extracted
from core.errors import LoadError, UnsupportedFileType
from core.ingest.loaders import load_path


def echo(value: str) -> str:
    return value.upper()


def pid() -> int:
    return os.getpid()


def hang(seconds: float) -> str:
    time.sleep(seconds)
    return "woke"


def gobble(mb: int) -> int:
    """Hold ``mb`` megabytes, touching every page, as a decompression bomb does."""
    blocks = [bytearray(1024 * 1024) for _ in range(mb)]
    return len(blocks)


def segfault() -> None:
    ctypes.string_at(0)


def exit_hard() -> None:
    os._exit(3)


def refuse(source: str) -> None:
    raise LoadError(source, "this is a PNG image, not text")


def unsupported(source: str) -> None:
    raise UnsupportedFileType(source, "unsupported file type (.png)")


def recurse(depth: int) -> int:
    return 0 if depth == 0 else 1 + recurse(depth - 1)


def reader_with_a_bug(path: Path) -> Extracted:
    """The real reader, except that it trips over files named weird.txt."""
    if path.name == "weird.txt":
        raise RecursionError("maximum recursion depth exceeded")
    return load_path(path)
