"""``footnote models list|install|use|remove``: the model manager on the command line.

``desktop.cli`` calls ``register(subparsers)``. ``install`` downloads in a worker thread so that
Ctrl+C in the main thread only sets the cancel flag: the download stops between blocks and keeps
its ``.part`` file, and the next ``install`` resumes it.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.settings import Settings
from core.text_safety import printable
from desktop.context import CliContext

log = logging.getLogger(__name__)

EXIT_OK, EXIT_INTERRUPTED = 0, 130


def register(subparsers: Any) -> None:
    """Add ``models`` and its subcommands to the ``footnote`` parser."""
    common = getattr(subparsers, "_common", None)
    nested_kw: dict[str, Any] = {"parents": [common]} if common is not None else {}

    p = subparsers.add_parser("models", help="list, install, choose or remove the answer model")
    ms = p.add_subparsers(dest="models_command", metavar="{list,install,use,remove}")
    ms.required = True
    sp = ms.add_parser("list", help="the bundled, downloadable and your own models", **nested_kw)
    sp.add_argument("--all", action="store_true", help="also the models kept for Footnote's tests")
    sp.set_defaults(func=cmd_models_list)
    sp = ms.add_parser("install", help="download a catalog model (resumes an interrupted download)", **nested_kw)
    sp.add_argument("id", metavar="ID")
    sp.add_argument("--url", default=None, help="download from this URL instead of the catalog's")
    sp.set_defaults(func=cmd_models_install)
    sp = ms.add_parser("use", help="answer with this model (an ID, or the path of a .gguf file)", **nested_kw)
    sp.add_argument("target", metavar="ID_OR_PATH")
    sp.set_defaults(func=cmd_models_use)
    sp = ms.add_parser("remove", help="delete a downloaded model, or forget one of your own files", **nested_kw)
    sp.add_argument("id", metavar="ID")
    sp.set_defaults(func=cmd_models_remove)


def _size(n: float) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def _info_obj(m: Any, in_use: str | None) -> dict[str, Any]:
    obj = asdict(m)
    obj["path"] = str(m.path) if m.path is not None else None
    obj["in_use"] = m.id == in_use
    return obj


def cmd_models_list(args: argparse.Namespace, ctx: CliContext) -> int:
    from core.modelstore import current_model_id, list_llm_models

    infos = list_llm_models(ctx.data_dir, include_test=args.all)
    settings = Settings.load(ctx.data_dir)
    in_use = current_model_id(ctx.data_dir, settings)
    if ctx.json:
        ctx.emit({"models": [_info_obj(m, in_use) for m in infos],
                  "in_use": in_use, "model_path": settings.model_path})
        return EXIT_OK
    rows = [("ID", "NAME", "SIZE", "RAM", "LICENCE", "INSTALLED", "IN USE")]
    for m in infos:
        installed = "yes" if m.installed else ("bundled, missing" if m.source == "bundled" else "no")
        rows.append((printable(m.id) + (" *" if m.default else ""), printable(m.name), _size(m.size_bytes),
                     f"{m.ram_gb:.1f} GB", printable(m.licence), installed, "yes" if m.id == in_use else ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        ctx.out.write("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n")
    ctx.out.write("* default model.  Install: footnote models install ID   Use: footnote models use ID_OR_PATH\n")
    if in_use is None:
        ctx.out.write(f"in use: {printable(settings.model_path)} (a file not in this list)\n")
    return EXIT_OK


class _Bar:
    """One line on stderr, redrawn in place on a terminal: bytes, speed, time left."""

    def __init__(self, ctx: CliContext, label: str) -> None:
        self.ctx = ctx
        self.label = label
        self.tty = ctx.err.isatty() and not ctx.json
        self.last_line = 0.0
        self.width = 0

    def __call__(self, p: Any) -> None:
        pct = f"{100 * p.done_bytes / p.total_bytes:5.1f}%" if p.total_bytes else "     "
        eta = "" if p.eta_s is None else f", {_duration(p.eta_s)} left"
        text = f"{self.label}: {pct} {_size(p.done_bytes)} of {_size(p.total_bytes)}, {p.bytes_per_s / 1e6:.1f} MB/s{eta}"
        if self.tty:
            self.ctx.err.write("\r" + text.ljust(self.width))
            self.width = len(text)
        else:  # a log, not a bar: one line every 10 s and at the end
            now = time.monotonic()
            if now - self.last_line < 10 and p.done_bytes < p.total_bytes:
                return
            self.last_line = now
            self.ctx.err.write(text + "\n")
        self.ctx.err.flush()

    def close(self) -> None:
        if self.tty and self.width:
            self.ctx.err.write("\n")
            self.ctx.err.flush()


def _duration(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 60:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


def cmd_models_install(args: argparse.Namespace, ctx: CliContext) -> int:
    from core.model_files import llm_entry
    from core.modelstore import DownloadCancelled, install_model

    entry = llm_entry(args.id)
    bar = _Bar(ctx, str(entry["name"]))
    cancel = threading.Event()
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["path"] = install_model(ctx.data_dir, args.id, bar, cancel, url=args.url)
        except BaseException as exc:  # handed to the main thread
            result["error"] = exc

    worker = threading.Thread(target=work, name="model-install", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except KeyboardInterrupt:
        cancel.set()
        worker.join(60)
        bar.close()
        ctx.err.write(f"footnote: {entry['name']}: download cancelled; "
                      f"run `footnote models install {args.id}` again to resume\n")
        return EXIT_INTERRUPTED
    bar.close()
    error = result.get("error")
    if isinstance(error, DownloadCancelled):
        ctx.err.write(f"footnote: {printable(error)}\n")
        return EXIT_INTERRUPTED
    if error is not None:
        raise error
    path = Path(result["path"])
    if ctx.json:
        ctx.emit({"installed": args.id, "path": str(path)})
    else:
        ctx.out.write(f"installed {printable(entry['name'])}: {printable(path)}\n"
                      f"answer with it: footnote models use {printable(args.id)}\n")
    return EXIT_OK


def cmd_models_use(args: argparse.Namespace, ctx: CliContext) -> int:
    from core.modelstore import use_model

    settings = Settings.load(ctx.data_dir)
    info = use_model(ctx.data_dir, settings, args.target)
    if ctx.json:
        ctx.emit({"in_use": info.id, "model_path": settings.model_path})
    else:
        ctx.out.write(f"answering with {printable(info.name)} ({printable(info.id)})\n")
    return EXIT_OK


def cmd_models_remove(args: argparse.Namespace, ctx: CliContext) -> int:
    from core.modelstore import remove_model

    before = Settings.load(ctx.data_dir).model_path
    remove_model(ctx.data_dir, args.id)
    fell_back = bool(before) and not Settings.load(ctx.data_dir).model_path
    if ctx.json:
        ctx.emit({"removed": args.id, "default_in_use": fell_back})
    else:
        ctx.out.write(f"removed {printable(args.id)}" + ("; answering with the default model again" if fell_back else "") + "\n")
    return EXIT_OK

