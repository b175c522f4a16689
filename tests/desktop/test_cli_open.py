"""``footnote FILE_OR_URL…``: how the first argument tells a source from a command, and how the
arguments a file manager passes (``%U``: file:// URLs) become the paths the engine reads."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from desktop import remote
from desktop.cli import build_parser
from desktop.main import with_open


@pytest.fixture
def parser() -> argparse.ArgumentParser:
    p = build_parser()
    p.add_argument("--self-test", action="store_true")
    return p


@pytest.mark.parametrize(("argv", "expected"), [
    ([], []),
    (["notes.md"], ["open", "notes.md"]),
    (["a.md", "https://example.org/b"], ["open", "a.md", "https://example.org/b"]),
    (["--data-dir", "lib", "notes.md"], ["--data-dir", "lib", "open", "notes.md"]),
    (["--data", "lib", "notes.md"], ["--data", "lib", "open", "notes.md"]),  # argparse's abbreviation
    (["--data-dir=lib", "-v", "notes.md"], ["--data-dir=lib", "-v", "open", "notes.md"]),
    (["--data-dir", "search", "list"], ["--data-dir", "search", "list"]),  # a folder named like a command
    (["search", "green", "tea"], ["search", "green", "tea"]),
    (["--json", "list"], ["--json", "list"]),
    (["open", "list"], ["open", "list"]),
    (["./search"], ["open", "./search"]),
    (["--", "-dashed.md"], ["open", "--", "-dashed.md"]),
    (["--self-test"], ["--self-test"]),
])
def test_a_source_gets_open_and_a_command_stays(parser: argparse.ArgumentParser, argv: list[str],
                                                expected: list[str]) -> None:
    assert with_open(parser, argv) == expected


def test_a_command_name_stays_a_command_even_when_such_a_file_exists(
        parser: argparse.ArgumentParser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "list").write_text("a file named list", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    args = parser.parse_args(with_open(parser, ["list"]))
    assert args.command == "list"
    args = parser.parse_args(with_open(parser, ["open", "list"]))
    assert args.command == "open" and args.sources == ["list"]
    args = parser.parse_args(with_open(parser, ["my notes.md", "file:///tmp/x.pdf"]))
    assert args.command == "open" and args.sources == ["my notes.md", "file:///tmp/x.pdf"]


def test_file_urls_become_paths_and_relative_paths_absolute(tmp_path: Path) -> None:
    assert remote.to_source("file:///home/ann/My%20Notes/caf%C3%A9.md", "/x") == "/home/ann/My Notes/café.md"
    assert remote.to_source("file://localhost/srv/a.pdf", "/x") == "/srv/a.pdf"
    assert remote.to_source("https://example.org/a?b=1", "/x") == "https://example.org/a?b=1"
    assert remote.to_source("notes.md", tmp_path) == str(tmp_path / "notes.md")
    assert remote.to_source("../up.md", tmp_path) == str(tmp_path.parent / "up.md")
    assert remote.to_source("/abs/a.md", tmp_path) == "/abs/a.md"
    assert remote.to_source("~/a.md", tmp_path) == os.path.expanduser("~/a.md")


def test_the_socket_lives_in_a_folder_only_this_user_enters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    (runtime / "footnote").mkdir(mode=0o755)
    address = remote.server_address(tmp_path / "library")
    assert address is not None and Path(address).parent == runtime / "footnote"
    assert (runtime / "footnote").stat().st_mode & 0o077 == 0  # tightened to 0700
    # one socket per data folder, the same for any spelling of it
    assert remote.server_address(tmp_path / "library" / ".." / "library") == address
    assert remote.server_address(tmp_path / "other") != address
    assert not remote.window_running(tmp_path / "library")


def test_a_folder_somebody_else_made_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp_path / "run"
    runtime.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    (runtime / "footnote").symlink_to(tmp_path)  # a planted link is not our private folder
    monkeypatch.setattr(remote.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    address = remote.server_address(tmp_path / "library")
    assert address is not None
    assert Path(address).parent == tmp_path / "tmp" / f"footnote-{os.getuid()}"
