"""Builds the services and the main window, and runs the Qt event loop.

Start-up stays fast because nothing heavy is imported here: the engine (FastEmbed, Qdrant,
llama-cpp) is imported and opened in a worker after the window is on screen.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

log = logging.getLogger(__name__)

ORG = "Footnote"
APP = "Footnote"
ASSETS = Path(__file__).resolve().parent.parent / "assets"


def process_age_s() -> float:
    """Seconds since this process started (Linux /proc), else since this module was imported."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        start_ticks = int(stat[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.monotonic() - _IMPORTED


_IMPORTED = time.monotonic()


def resolve_data_dir(args: argparse.Namespace) -> Path:
    """The same rule as the CLI's (``core.settings.resolve_data_dir``). A folder that an older
    version remembered in QSettings moves to the shared pointer once, so the CLI sees it too."""
    from PySide6.QtCore import QSettings

    from core import settings

    qs = QSettings()
    legacy = qs.value("data_dir")
    if legacy and settings.chosen_data_dir() is None:
        try:
            settings.choose_data_dir(Path(str(legacy)))
            qs.remove("data_dir")
        except OSError as exc:
            log.warning("data folder choice not moved error=%s", type(exc).__name__)
            if not getattr(args, "data_dir", None) and not os.environ.get(settings.DATA_DIR_ENV):
                return Path(str(legacy)).expanduser()
    return settings.resolve_data_dir(getattr(args, "data_dir", None))


def install_file_log(data_dir: Path) -> logging.Handler:
    """Everything at INFO and above goes to ``footnote.log`` in the data folder (``Open log``), with
    secrets removed from every line (``core.logsafe``); the CLI writes to the same file."""
    from core.logsafe import install_file_log as install

    return install(data_dir)


def install_excepthook() -> None:
    """An unexpected exception on the GUI thread is logged with its traceback and reported in one
    line; the user never sees a traceback and the app keeps running."""
    from ui import messages

    def hook(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("unexpected error: %s", "".join(traceback.format_exception(exc_type, exc, tb)))
        from core.logsafe import redact_text

        detail = redact_text(str(exc).splitlines()[0])[:160] if str(exc) else exc_type.__name__
        messages.error(f"Something went wrong ({detail}); details are in the log")

    sys.excepthook = hook


def load_style(app: Any) -> None:
    """Fusion follows the system light/dark scheme; the style sheet uses palette() roles only."""
    app.setStyle("Fusion")
    qss = ASSETS / "style.qss"
    if qss.exists():
        app.setStyleSheet(qss.read_text(encoding="utf-8"))


def make_app(argv: list[str] | None = None) -> Any:
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv or [sys.argv[0]])
    app.setOrganizationName(ORG)
    app.setApplicationName(APP)
    app.setApplicationDisplayName(APP)
    app.setDesktopFileName("footnote")
    from ui.icons import app_icon

    app.setWindowIcon(app_icon())
    load_style(app)
    return app


def run_app(args: argparse.Namespace, on_window: Callable[[Any], None] | None = None) -> int:
    """``on_window(window)`` runs once the window is shown (the quit tests drive the real app with it)."""
    app = make_app()
    from PySide6.QtCore import QTimer

    data_dir = resolve_data_dir(args)
    from desktop.remote import to_sources
    from desktop.single_instance import SingleInstance

    sources = to_sources(list(getattr(args, "sources", None) or []))  # file:// URLs from file managers too
    instance = SingleInstance(data_dir)
    if instance.notify_running(sources):
        sent = f" and sent it {len(sources)} item{'s' if len(sources) != 1 else ''} to import" if sources else ""
        sys.stderr.write(f"footnote: this library is already open in a Footnote window; brought it forward"
                         f"{sent} ({data_dir})\n")
        return 0
    log_path = install_file_log(data_dir).baseFilename  # type: ignore[attr-defined]
    if not instance.listen():
        log.warning("no single-instance server; a second window would report the library as locked")
    install_excepthook()

    from desktop.services import Services
    from ui.main_window import MainWindow

    services = Services(data_dir)
    window = MainWindow(services)
    instance.activated.connect(window.bring_forward)
    instance.open_requested.connect(window.import_paths)
    instance.serve(services)
    window.show()
    log.info("window shown seconds=%.3f data_dir=%s log=%s", process_age_s(), data_dir, log_path)
    QTimer.singleShot(0, window.start)
    if sources:
        QTimer.singleShot(0, lambda: window.import_paths(sources))
    if on_window is not None:
        on_window(window)

    # Ctrl+C and SIGTERM close the window the normal way (cancel workers, wait briefly, save state).
    def on_signal(_sig: int, _frame: Any) -> None:
        QTimer.singleShot(0, window.close)
        QTimer.singleShot(0, app.quit)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    pulse = QTimer()
    pulse.start(100)  # lets Python run signal handlers while Qt sleeps
    pulse.timeout.connect(lambda: None)
    # Session logout: the session manager asks for the state first, then ends the application,
    # possibly without closing its windows.
    app.commitDataRequest.connect(lambda _manager: window.save_state())
    app.aboutToQuit.connect(window.close)

    code = int(app.exec())
    return leave(services, instance, code)


def leave(services: Any, instance: Any, code: int) -> int:
    """End the process within a bounded time. Workers were cancelled and waited on briefly when the
    window closed; one still inside an uninterruptible engine call (a model load, a prompt, an
    embedding batch) is left behind: the library lock is released, the logs flushed, and the
    process ends with ``os._exit``, which also skips unloading the model and Python's teardown
    (where late signals from worker threads would only print warnings)."""
    started = time.monotonic()
    # The window's close already cancelled everything and waited its second: only look again.
    if not services.shutdown(0.1):
        services.abandon()
    instance.close()
    log.info("exit code=%d seconds=%.2f", code, time.monotonic() - started)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)
