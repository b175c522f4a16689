"""Entry point: ``footnote`` with a subcommand runs the CLI; with none, the desktop window.

``footnote FILE_OR_URL…`` opens the window and imports those (the menu entry's ``%U``). The rule
that tells a file from a command: the first argument that is not an option is a command when it
is one of the command names, whatever files the current folder holds (a script's meaning never
depends on the folder), and anything else is a source, as if ``open`` came first. A file named
like a command opens with ``footnote ./search`` or ``footnote open search``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys


def _configure_logging(verbose: bool) -> None:
    from core import logsafe

    level = logging.INFO if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    logsafe.install()  # no URL secret or key on stderr either, and no httpx request lines


def main(argv: list[str] | None = None) -> int:
    import multiprocessing

    # The guarded parse workers are spawned processes; in the packaged app they re-enter here.
    multiprocessing.freeze_support()
    from desktop.cli import build_parser, run_cli

    parser = build_parser()
    parser.add_argument("--self-test", action="store_true",
                        help="check this install headless (sample import, cited local answer); one JSON line")
    args = parser.parse_args(with_open(parser, sys.argv[1:] if argv is None else list(argv)))
    _configure_logging(args.verbose)
    if args.self_test:
        from desktop.selftest import run

        return run()
    if args.data_dir is None and os.environ.get("FOOTNOTE_DATA_DIR"):
        from pathlib import Path

        args.data_dir = Path(os.environ["FOOTNOTE_DATA_DIR"])
    if args.command in (None, "open"):
        from desktop.app import run_app

        return run_app(args)
    return run_cli(args)


def with_open(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``argv`` with ``open`` put before the first source when no command is named."""
    commands: set[str] = set()
    value_options: set[str] = set()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
        elif action.option_strings and action.nargs != 0:
            value_options.update(action.option_strings)
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            return [*argv[:i], "open", *argv[i:]]
        if token.startswith("-") and token != "-":
            takes_value = "=" not in token and token.startswith("--") and any(
                o.startswith(token) for o in value_options if o.startswith("--"))
            i += 2 if takes_value or token in value_options else 1
            continue
        return argv if token in commands else [*argv[:i], "open", *argv[i:]]
    return argv


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()
    sys.exit(main())
