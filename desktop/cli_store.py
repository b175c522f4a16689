"""``footnote store status|move|push URL|pull``: where the library keeps its vectors.

A library starts in Qdrant local mode and moves to Qdrant Edge by itself past 20,000 passages
(``vector_store=auto``); ``push URL`` copies it to a Qdrant server and switches to it, ``pull``
brings it back to an embedded store. Every move resumes where it stopped if interrupted.
"""

from __future__ import annotations

import argparse
from typing import Any

from core.text_safety import printable
from desktop.context import CliContext

EXIT_OK, EXIT_FAILED = 0, 1


def register(subparsers: Any) -> None:
    common = getattr(subparsers, "_common", None)
    nested_kw: dict[str, Any] = {"parents": [common]} if common is not None else {}
    p = subparsers.add_parser("store", help="where the library keeps its vectors (status, move, push, pull)")
    ss = p.add_subparsers(dest="store_command", metavar="{status,move,push,pull}")
    ss.required = True
    sp = ss.add_parser("status", help="the library's vector store and any move in progress", **nested_kw)
    sp.set_defaults(func=cmd_store_status)
    sp = ss.add_parser("move", help="finish a move in progress, or move past 20,000 passages to Qdrant Edge",
                       **nested_kw)
    sp.add_argument("--to", choices=["edge", "local"], default=None, help="move to this embedded store")
    sp.set_defaults(func=cmd_store_move)
    sp = ss.add_parser("push", help="copy the library to a Qdrant server and use it from now on", **nested_kw)
    sp.add_argument("url", metavar="URL")
    sp.set_defaults(func=cmd_store_push)
    sp = ss.add_parser("pull", help="copy the library back from its Qdrant server into an embedded store",
                       **nested_kw)
    sp.add_argument("--to", choices=["edge", "local"], default=None,
                    help="default: Qdrant Edge past 20,000 passages, else local mode")
    sp.set_defaults(func=cmd_store_pull)


def _status(engine: Any) -> dict[str, Any]:
    from core.vectorstore.move import pending_move

    pending = pending_move(engine.index)
    return {"store": engine.index.store_kind, "url": engine.index.store_url,
            "passages": engine.index.ready_chunk_count(),
            "moving_to": pending[0] if pending else "", "due": (engine.store_move_due() or ("", ""))[0]}


def cmd_store_status(args: argparse.Namespace, ctx: CliContext) -> int:
    status = _status(ctx.engine())
    if ctx.json:
        ctx.emit(status)
    else:
        where = status["store"] + (f" at {printable(status['url'])}" if status["url"] else "")
        ctx.out.write(f"vector store: {where}, {status['passages']} passages\n")
        if status["moving_to"]:
            ctx.out.write(f"a move to {status['moving_to']} is unfinished; `footnote store move` resumes it\n")
    return EXIT_OK


def run_move(ctx: CliContext, kind: str | None, url: str = "") -> int:
    """Run a move with a progress line; also called after ``ingest`` when a move is due."""
    engine = ctx.engine()
    bar: Any = None
    last = None
    for ev in engine.move_store(kind, url):
        last = ev
        if ev.kind == "started" and not ctx.json:
            ctx.err.write(f"{ev.title}…\n")
            if ctx.err.isatty():
                from tqdm import tqdm

                bar = tqdm(total=0, unit="passage", file=ctx.err, dynamic_ncols=True, leave=False)
        elif ev.kind == "embedded" and bar is not None:
            bar.total = ev.total
            bar.n = ev.done
            bar.refresh()
    if bar is not None:
        bar.close()
    status = _status(engine)
    if ctx.json:
        ctx.emit({"moved": bool(last and last.kind == "done"), **status})
    else:
        where = status["store"] + (f" at {printable(status['url'])}" if status["url"] else "")
        ctx.out.write(f"vector store: {where}, {status['passages']} passages\n")
    return EXIT_OK if last is None or last.kind == "done" else EXIT_FAILED


def cmd_store_move(args: argparse.Namespace, ctx: CliContext) -> int:
    return run_move(ctx, args.to)


def cmd_store_push(args: argparse.Namespace, ctx: CliContext) -> int:
    return run_move(ctx, "server", args.url)


def cmd_store_pull(args: argparse.Namespace, ctx: CliContext) -> int:
    from core.vectorstore import EDGE_THRESHOLD

    engine = ctx.engine()
    kind = args.to or ("edge" if engine.index.ready_chunk_count() > EDGE_THRESHOLD else "local")
    return run_move(ctx, kind)


def run_due_move(ctx: CliContext) -> None:
    """After an import: the move a library that passed 20,000 passages needs, with its progress."""
    engine = ctx.engine()
    if engine.store_move_due() is not None:
        run_move(ctx, None)
