"""CLI subcommands for answers: ``ask``, ``key`` and ``conversations``.

``desktop.cli`` calls ``register(subparsers)``; each handler gets the parsed arguments and a
``CliContext`` and returns the exit code. The OpenAI key is read from stdin or a hidden prompt,
never from argv, and no handler ever prints it.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import getpass
import logging
import sys
from pathlib import Path
from typing import Any

from core.documents import display_title
from core.errors import FootnoteError
from core.text_safety import printable
from desktop.context import CliContext

log = logging.getLogger(__name__)

EXIT_OK, EXIT_ERROR, EXIT_PARTIAL = 0, 1, 2


def register(subparsers: Any) -> None:
    """Add ``ask``, ``key`` and ``conversations`` to the ``footnote`` parser."""
    common = getattr(subparsers, "_common", None)
    nested_kw: dict[str, Any] = {"parents": [common]} if common is not None else {}

    p = subparsers.add_parser("ask", help="answer a question from your documents, with sources")
    p.add_argument("question", nargs="*", metavar="QUESTION")
    p.add_argument("--backend", choices=["local", "auto", "openai"], default=None,
                   help="local model, OpenAI, or auto (local first, OpenAI when it is missing or slow)")
    p.add_argument("--conversation", default=None, metavar="ID", help="continue this conversation")
    p.add_argument("--top-k", type=int, default=None, metavar="K", help="passages to retrieve")
    p.add_argument("--document", action="append", default=None, metavar="SOURCE_OR_ID",
                   help="ask only this document (repeat for several); summaries read it whole")
    p.add_argument("--questions-file", default=None, metavar="FILE",
                   help="one question per line, answered independently; with --json, one object per line")
    p.set_defaults(func=cmd_ask)

    p = subparsers.add_parser("key", help="store, check or delete the OpenAI key in the system keyring")
    ks = p.add_subparsers(dest="key_command", metavar="{set,status,delete}")
    ks.required = True
    sp = ks.add_parser("set", help="store the key (read from stdin or a hidden prompt)", **nested_kw)
    sp.set_defaults(func=cmd_key_set)
    sp = ks.add_parser("status", help="whether a key is stored, and where", **nested_kw)
    sp.set_defaults(func=cmd_key_status)
    sp = ks.add_parser("delete", help="remove the stored key", **nested_kw)
    sp.set_defaults(func=cmd_key_delete)

    p = subparsers.add_parser("conversations", help="list, show, rename, delete or export conversations")
    cs = p.add_subparsers(dest="conversations_command", metavar="{list,show,rename,delete,export}")
    cs.required = True
    sp = cs.add_parser("list", help="all conversations, most recent first", **nested_kw)
    sp.set_defaults(func=cmd_conversations_list)
    sp = cs.add_parser("show", help="the messages of one conversation", **nested_kw)
    sp.add_argument("id", metavar="ID")
    sp.set_defaults(func=cmd_conversations_show)
    sp = cs.add_parser("rename", help="give a conversation a title", **nested_kw)
    sp.add_argument("id", metavar="ID")
    sp.add_argument("title", nargs="+", metavar="TITLE")
    sp.set_defaults(func=cmd_conversations_rename)
    sp = cs.add_parser("delete", help="delete a conversation", **nested_kw)
    sp.add_argument("id", metavar="ID")
    sp.set_defaults(func=cmd_conversations_delete)
    sp = cs.add_parser("export", help="a conversation with its sources, as Markdown or JSON", **nested_kw)
    sp.add_argument("id", metavar="ID")
    sp.add_argument("--format", choices=["md", "json"], default="md", help="md (default) or json")
    sp.add_argument("--output", "-o", type=Path, metavar="FILE", help="write to FILE instead of standard output")
    sp.set_defaults(func=cmd_conversations_export)


# ---------------------------------------------------------------------------------------------
# ask
# ---------------------------------------------------------------------------------------------


def _source_line(c: Any) -> str:
    title = display_title(c.title or "", c.source)
    page = f", p. {c.page}" if c.page is not None else ""
    return f"[{c.n}] {printable(title)} — {printable(c.source)}{page}"


def _scope(args: argparse.Namespace, ctx: CliContext) -> list[str]:
    ids: list[str] = []
    for target in args.document or []:
        doc = ctx.engine().find(target)
        if doc is None:
            raise FootnoteError(f"{target}: no such document in the library")
        ids.append(doc.id)
    return ids


def _write_answer(ctx: CliContext, ans: Any) -> None:
    """Sources, unsupported sentences and suggestions after an answer's text."""
    if ans.citations:
        ctx.out.write("\nSources:\n")
        for c in ans.citations:
            ctx.out.write(_source_line(c) + "\n")
    if ans.unsupported:
        ctx.out.write("\nNot supported by any passage:\n")
        for text in ans.unsupported:
            ctx.out.write(f"  ! {printable(text)}\n")
    if ans.abstained and ans.suggestions:
        ctx.out.write("\nYou may want to read:\n")
        for c in ans.suggestions:
            ctx.out.write(_source_line(c) + "\n")
    if ans.stop_reason == "repetition":
        ctx.out.write("\n(stopped: the model started repeating itself)\n")


def cmd_ask(args: argparse.Namespace, ctx: CliContext) -> int:
    if args.questions_file:
        if args.question:
            raise FootnoteError("ask: give either a QUESTION or --questions-file, not both")
        return _ask_file(args, ctx)
    question = " ".join(args.question).strip()
    if not question:
        raise FootnoteError("ask: give a QUESTION or --questions-file FILE")
    engine = ctx.engine()
    answerer = engine.answerer
    conversation_id = args.conversation
    if conversation_id is None:
        conversation_id = answerer.conversations.create().id
    else:
        answerer.conversations.get(conversation_id)  # a clear error before any work
    stream = answerer.ask(question, conversation_id=conversation_id, backend=args.backend, top_k=args.top_k,
                          document_ids=_scope(args, ctx))
    streamed: list[str] = []
    try:
        for ev in stream:
            if ev.kind == "token" and not ctx.json:
                streamed.append(ev.text)
                ctx.out.write(printable(ev.text, multiline=True))
                ctx.out.flush()
            elif ev.kind == "error":
                raise FootnoteError(ev.text)
    except KeyboardInterrupt:
        stream.stop()
        stream.close()
        raise
    ans = stream.answer
    if ans is None:
        raise FootnoteError(stream.error or "the answer ended without a result")
    if ctx.json:
        ctx.emit(ans.as_json())
        return EXIT_OK
    if ans.answer.strip() != "".join(streamed).strip():
        ctx.out.write("\n" + printable(ans.answer, multiline=True))
    ctx.out.write("\n")
    _write_answer(ctx, ans)
    ctx.out.flush()
    conv = printable(conversation_id)
    ctx.err.write(f"({ans.backend}; conversation {conv}: continue with --conversation {conv})\n")
    return EXIT_OK


def _ask_file(args: argparse.Namespace, ctx: CliContext) -> int:
    path = Path(args.questions_file)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise FootnoteError(f"{path}: cannot read the questions file ({exc.strerror})") from None
    questions = [q for q in (line.strip() for line in lines) if q]
    engine = ctx.engine()
    answerer = engine.answerer
    failed = 0
    scope = _scope(args, ctx)
    for q in questions:
        stream = answerer.ask(q, conversation_id=None, backend=args.backend, top_k=args.top_k, document_ids=scope)
        for _ in stream:
            pass
        ans = stream.answer
        if ans is None:
            failed += 1
            reason = stream.error or "the answer ended without a result"
            if ctx.json:
                ctx.emit({"question": q, "error": reason})
            else:
                ctx.err.write(f"footnote: {printable(q)}: {printable(reason)}\n")
            continue
        if ctx.json:
            ctx.emit(ans.as_json())
        else:
            ctx.out.write(f"# {printable(q)}\n{printable(ans.answer, multiline=True)}\n")
            _write_answer(ctx, ans)
            ctx.out.write("\n")
            ctx.out.flush()
    return EXIT_PARTIAL if failed else EXIT_OK


# ---------------------------------------------------------------------------------------------
# key
# ---------------------------------------------------------------------------------------------


def _read_key() -> str:
    """From stdin when piped, else a hidden prompt: never argv, where other users and shells see it."""
    if sys.stdin is None:
        raise FootnoteError("key set: no input; pipe the key on stdin")
    if sys.stdin.isatty():
        return getpass.getpass("OpenAI API key (input hidden): ")
    return sys.stdin.readline()


def cmd_key_set(args: argparse.Namespace, ctx: CliContext) -> int:
    from core import secrets

    key = _read_key().strip()
    backend = secrets.set_key(key)
    del key
    if ctx.json:
        ctx.emit({"stored": True, "backend": backend})
    else:
        ctx.out.write(f"stored the OpenAI key in the system keyring ({secrets.backend_label(backend)})\n")
    return EXIT_OK


def cmd_key_status(args: argparse.Namespace, ctx: CliContext) -> int:
    from core import secrets

    st = secrets.status()
    if ctx.json:
        ctx.emit(st.as_dict())
        return EXIT_OK
    if st.stored:
        ctx.out.write(f"an OpenAI key is stored in the system keyring ({secrets.backend_label(st.backend)})\n")
    elif st.usable_keyring:
        ctx.out.write(f"no OpenAI key is stored (keyring: {secrets.backend_label(st.backend)}); "
                      "store one with `footnote key set`\n")
    else:
        ctx.out.write(f"{st.message}\n")
    if st.env_present:
        note = " (the stored key takes precedence)" if st.stored else ""
        ctx.out.write(f"OPENAI_API_KEY is set in the environment{note}\n")
    return EXIT_OK


def cmd_key_delete(args: argparse.Namespace, ctx: CliContext) -> int:
    from core import secrets

    removed = secrets.delete_key()
    if ctx.json:
        ctx.emit({"deleted": removed})
    else:
        ctx.out.write("deleted the stored OpenAI key\n" if removed else "no OpenAI key was stored\n")
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# conversations
# ---------------------------------------------------------------------------------------------


def _store(ctx: CliContext) -> Any:
    from core.conversations import ConversationStore

    return ConversationStore(ctx.data_dir)


def _when(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def cmd_conversations_list(args: argparse.Namespace, ctx: CliContext) -> int:
    with _store(ctx) as store:
        convs = store.list()
    if ctx.json:
        ctx.emit({"conversations": [
            {"id": c.id, "title": c.title, "created": c.created, "updated": c.updated, "messages": c.message_count}
            for c in convs]})
        return EXIT_OK
    if not convs:
        ctx.out.write("no conversations yet: ask something with `footnote ask QUESTION`\n")
    for c in convs:
        ctx.out.write(f"{c.id}  {_when(c.updated)}  {c.message_count:>3} messages  {printable(c.title or '(untitled)')}\n")
    return EXIT_OK


def cmd_conversations_show(args: argparse.Namespace, ctx: CliContext) -> int:
    with _store(ctx) as store:
        conv = store.get(args.id)
        msgs = store.messages(args.id)
    if ctx.json:
        ctx.emit({
            "id": conv.id, "title": conv.title, "created": conv.created, "updated": conv.updated,
            "messages": [
                {"role": m.role, "content": m.content, "created": m.created, "backend": m.backend,
                 "abstained": m.abstained, "citations": [c.as_dict() for c in m.citations]}
                for m in msgs],
        })
        return EXIT_OK
    ctx.out.write(f"{conv.id}  {printable(conv.title or '(untitled)')}\n\n")
    for m in msgs:
        who = "You" if m.role == "user" else f"Footnote ({m.backend})" if m.backend else "Footnote"
        ctx.out.write(f"{printable(who)}: {printable(m.content, multiline=True)}\n")
        for c in m.citations:
            ctx.out.write("  " + _source_line(c) + "\n")
        ctx.out.write("\n")
    return EXIT_OK


def cmd_conversations_rename(args: argparse.Namespace, ctx: CliContext) -> int:
    title = " ".join(args.title)
    with _store(ctx) as store:
        store.rename(args.id, title)
    if ctx.json:
        ctx.emit({"renamed": args.id, "title": title})
    else:
        ctx.out.write(f"renamed {printable(args.id)} to {printable(title)}\n")
    return EXIT_OK


def cmd_conversations_export(args: argparse.Namespace, ctx: CliContext) -> int:
    from core.export import export, write_atomically

    with _store(ctx) as store:
        conv = store.get(args.id)
        text = export(conv, store.messages(args.id), args.format)
    if args.output is None:
        from core.text_safety import json_safe

        # On a terminal, nothing a passage holds may act as an escape sequence.
        ctx.out.write(json_safe(text) if args.format == "json" else printable(text, multiline=True))
        return EXIT_OK
    write_atomically(args.output, text)
    if ctx.json:
        ctx.emit({"exported": conv.id, "format": args.format, "path": str(args.output)})
    else:
        ctx.out.write(f"exported {printable(conv.title or conv.id)} to {printable(str(args.output))}\n")
    return EXIT_OK


def cmd_conversations_delete(args: argparse.Namespace, ctx: CliContext) -> int:
    with _store(ctx) as store:
        store.delete(args.id)
    if ctx.json:
        ctx.emit({"deleted": args.id})
    else:
        ctx.out.write(f"deleted conversation {printable(args.id)}\n")
    return EXIT_OK
