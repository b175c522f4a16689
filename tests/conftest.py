"""Shared pytest fixtures."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Make the repository root importable (``core``, ``desktop``, ``tests.httpserver``) whether or not
# the project is pip-installed; otherwise ``tests/core`` could shadow the real ``core`` package.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.httpserver import HttpServer  # noqa: E402


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """A real HTTP server on 127.0.0.1 (see ``tests/httpserver.py``), stopped when the test ends."""
    with HttpServer() as server:
        yield server
