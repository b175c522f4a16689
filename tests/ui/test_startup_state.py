"""While the library opens, the window says so; it never claims "No documents yet" before it knows."""

from __future__ import annotations

from pathlib import Path

from core.engine import Engine
from core.store import DataDirLock
from desktop.services import Services
from tests.ui.conftest import DOCS, ENGINE_TIMEOUT_MS
from ui.main_window import MainWindow


def watch(w: MainWindow, seen: list[str]) -> None:
    """What the library panel and the chat's empty state say at this moment."""
    if w.library.empty.isVisible():
        seen.append(w.library.empty.text())
    if w.chat.empty.isVisible():
        seen.append(w.chat.empty_title.text())


def claims_empty(seen: list[str]) -> list[str]:
    return [t for t in seen if "No documents" in t or "Drop documents" in t]


def test_a_library_with_documents_shows_loading_then_its_documents(qtbot, data_dir: Path, docs: Path) -> None:
    engine = Engine(data_dir)
    try:
        assert sum(1 for ev in engine.ingest([str(docs)]) if ev.kind == "done") == len(DOCS)
    finally:
        engine.close()
    services = Services(data_dir)
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    seen: list[str] = []
    watch(w, seen)
    assert "Opening the library" in w.library.empty.text() and w.library.loading
    w.start()

    def listed() -> bool:
        watch(w, seen)
        return w.library.model.rowCount() == len(DOCS)

    try:
        qtbot.waitUntil(listed, timeout=ENGINE_TIMEOUT_MS)
        assert claims_empty(seen) == [], seen
        assert not w.library.loading and w.library.view.isVisible()
        assert "Ask a question" in w.chat.empty_title.text()
    finally:
        w.close()
        assert services.shutdown(30.0)


def test_an_empty_library_says_so_once_it_is_open(qtbot, data_dir: Path) -> None:
    services = Services(data_dir)
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    assert "Opening the library" in w.library.empty.text()
    try:
        with qtbot.waitSignal(services.engine_state, timeout=ENGINE_TIMEOUT_MS,
                              check_params_cb=lambda state, _m: state == "ready"):
            w.start()
        qtbot.waitUntil(lambda: not w.library.loading, timeout=ENGINE_TIMEOUT_MS)
        assert "No documents yet" in w.library.empty.text() and w.library.empty.isVisible()
        assert "Drop documents" in w.chat.empty_title.text()
    finally:
        w.close()
        assert services.shutdown(30.0)


def test_a_library_that_cannot_be_opened_is_not_called_empty(qtbot, data_dir: Path) -> None:
    lock = DataDirLock(data_dir)
    lock.acquire()  # another process holds it
    services = Services(data_dir)
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    try:
        with qtbot.waitSignal(services.engine_state, timeout=ENGINE_TIMEOUT_MS,
                              check_params_cb=lambda state, _m: state == "locked"):
            w.start()
        seen: list[str] = []
        watch(w, seen)
        assert claims_empty(seen) == [] and "not open" in w.library.empty.text()
    finally:
        lock.release()
        w.close()
        assert services.shutdown(30.0)
