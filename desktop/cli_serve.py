"""``footnote serve``: the local API (OpenAI-compatible chat, import, search) over this library.

Only one process may hold a library, so this command opens the engine itself; while the window
has the library open, switch the API on in its settings instead.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

from core.text_safety import printable
from desktop.context import CliContext

log = logging.getLogger(__name__)

EXIT_OK = 0


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help="run the local API (OpenAI-compatible chat, import, search) on 127.0.0.1")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1; anything else lets other machines reach it)")
    p.add_argument("--port", type=int, default=None, help="port (default: the api_port setting, 5151)")
    p.add_argument("--print-token", action="store_true",
                   help="print the API token (generated on first use) and exit, e.g. TOKEN=$(footnote serve --print-token)")
    p.add_argument("--new-token", action="store_true",
                   help="replace the API token with a new one (clients holding the old one get 401) and exit")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace, ctx: CliContext) -> int:
    from core import secrets

    if args.new_token:
        token = secrets.regenerate_api_token()
        if ctx.json:
            ctx.emit({"token": token})
        else:
            ctx.out.write(token + "\n")
        return EXIT_OK
    token = secrets.api_token()  # a clear one-line error when there is no keyring and no FOOTNOTE_API_TOKEN
    if args.print_token:
        if ctx.json:
            ctx.emit({"token": token})
        else:
            ctx.out.write(token + "\n")
        return EXIT_OK

    from desktop.api import ApiConfig, ApiServer, OpenedEngine, create_app
    from desktop.api.server import LOOPBACK

    engine = ctx.engine()
    port = args.port if args.port is not None else engine.settings.api_port
    if args.host not in LOOPBACK:
        ctx.err.write(f"warning: the API listens on {printable(args.host)}: anyone who can reach this machine "
                      "and has the token can read and change your library\n")
    engine.warm_up()
    config = ApiConfig(host=args.host, port=port)
    server = ApiServer(create_app(OpenedEngine(engine), secrets.api_token, config), args.host, port)
    server.start()
    if ctx.json:
        ctx.emit({"url": server.url, "docs": server.url + "/docs"})
    else:
        ctx.out.write(f"Footnote API on {server.url}/v1 (docs: {server.url}/docs); "
                      "the token: `footnote serve --print-token`. Ctrl-C stops it.\n")
        ctx.out.flush()

    def on_term(_sig: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term) if sys.platform != "win32" else None
    try:
        server.wait()
    except KeyboardInterrupt:
        ctx.err.write("stopping the API…\n")
    finally:
        server.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return EXIT_OK
