"""Entry point: ``footnote`` with a subcommand runs the CLI; with none, the desktop window."""

from __future__ import annotations

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
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    if args.self_test:
        from desktop.selftest import run

        return run()
    if args.data_dir is None and os.environ.get("FOOTNOTE_DATA_DIR"):
        from pathlib import Path

        args.data_dir = Path(os.environ["FOOTNOTE_DATA_DIR"])
    if args.command is None:
        from desktop.app import run_app

        return run_app(args)
    return run_cli(args)


if __name__ == "__main__":
    import multiprocessing

    multiprocessing.freeze_support()
    sys.exit(main())
