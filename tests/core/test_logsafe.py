"""Secrets never reach a log line: URL user info, credential query values, keys, auth headers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core import logsafe
from tests.httpserver import HttpServer

SECRETS = ("hunter2", "t0k3n", "s1gnature", "sk-proj-abcdefghijklmnop", "c0de")


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """The real file log the window and CLI use, on a fresh root logger set-up."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), logging.getLogger("httpx").level, logging.getLogger("httpcore").level)
    for h in saved[1]:
        root.removeHandler(h)
    handler = logsafe.install_file_log(tmp_path)
    yield tmp_path / logsafe.LOG_FILE
    root.removeHandler(handler)
    handler.close()
    for h in saved[1]:
        root.addHandler(h)
    root.setLevel(saved[0])
    logging.getLogger("httpx").setLevel(saved[2])
    logging.getLogger("httpcore").setLevel(saved[3])


def test_any_message_argument_and_traceback_is_cleaned(log_file: Path) -> None:
    url = "https://alice:hunter2@example.com/a?x=1&token=t0k3n&X-Amz-Signature=s1gnature&code=c0de"
    other = logging.getLogger("some.library")
    other.info("fetching %s", url)
    other.warning("headers={'Authorization': 'Bearer sk-proj-abcdefghijklmnop'}")
    try:
        raise RuntimeError(f"failed to open {url}")
    except RuntimeError:
        other.exception("request failed")
    text = log_file.read_text(encoding="utf-8")
    assert "https://example.com/a?x=1&token=REDACTED" in text
    assert "RuntimeError: failed to open https://example.com/a" in text  # the traceback is still there
    for secret in SECRETS:
        assert secret not in text


def test_httpx_request_lines_stay_out_of_the_log(log_file: Path, http_server: HttpServer) -> None:
    http_server.route("/p", "<p>hi</p>")
    with httpx.Client(trust_env=False) as client:
        client.get(http_server.url("/p?token=t0k3n"))
    logging.getLogger("core.test").info("marker line")
    text = log_file.read_text(encoding="utf-8")
    assert "marker line" in text
    assert "HTTP Request" not in text and "t0k3n" not in text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("see http://u:p@h/x?a=1", "see http://h/x?a=1"),
        ("https://h/cb#access_token=abc&state=s", "https://h/cb#access_token=REDACTED&state=REDACTED"),
        ("https://h/?page=2&session=abc", "https://h/?page=2&session=REDACTED"),
        ("https://h/?my_api_key=abc", "https://h/?my_api_key=REDACTED"),
        ("no url here", "no url here"),
    ],
)
def test_redact_text(raw: str, expected: str) -> None:
    assert logsafe.redact_text(raw) == expected
