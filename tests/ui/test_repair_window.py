"""The window with a damaged or outdated library: Repair in the banner, and the upgrade in the
background with its progress in the status bar."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from PySide6.QtCore import Qt

from core.engine import Engine
from desktop.services import Services
from tests.ui.conftest import DOCS, ENGINE_TIMEOUT_MS, quick_settings


def build_library(data_dir: Path, docs: Path) -> None:
    engine = Engine(data_dir, quick_settings())
    try:
        assert not [e.error for e in engine.ingest([str(docs)]) if e.kind == "failed"]
    finally:
        engine.close()


def test_a_damaged_library_offers_repair_and_comes_back(qtbot, data_dir: Path, docs: Path) -> None:  # type: ignore[no-untyped-def]
    from ui.main_window import MainWindow

    build_library(data_dir, docs)
    with (data_dir / "library.sqlite3").open("r+b") as fh:
        fh.write(b"\x00" * 100)
    services = Services(data_dir)
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    try:
        with qtbot.waitSignal(services.engine_state, timeout=ENGINE_TIMEOUT_MS,
                              check_params_cb=lambda state, _m: state == "damaged"):
            w.start()
        assert w.banner.isVisible() and w.repair_button.isVisible()
        assert "library.sqlite3" in w.banner_text.text() and "Repair" in w.banner_text.text()
        with qtbot.waitSignal(services.engine_state, timeout=ENGINE_TIMEOUT_MS,
                              check_params_cb=lambda state, _m: state == "ready"):
            qtbot.mouseClick(w.repair_button, Qt.MouseButton.LeftButton)
        assert not w.banner.isVisible() and not w.repair_button.isVisible()
        qtbot.waitUntil(lambda: sorted(Path(d.source).name for d in w.library.model.documents()) == sorted(DOCS),
                        timeout=30_000)
        assert all(d.status == "ready" for d in w.library.model.documents())
    finally:
        w.close()
        assert services.shutdown(10.0)


def test_an_outdated_library_is_updated_in_the_background(qtbot, data_dir: Path, docs: Path) -> None:  # type: ignore[no-untyped-def]
    from ui.main_window import MainWindow

    build_library(data_dir, docs)
    db = sqlite3.connect(data_dir / "library.sqlite3")
    db.execute("UPDATE documents SET pipeline=''")  # as a Footnote from before versions were kept left it
    db.commit()
    db.close()
    services = Services(data_dir)
    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    try:
        with qtbot.waitSignal(services.import_started, timeout=ENGINE_TIMEOUT_MS) as started:
            w.start()
        job = started.args[0]
        assert "Updating the library" in job.label
        with qtbot.waitSignal(job.finished, timeout=ENGINE_TIMEOUT_MS) as finished:
            pass
        summary = finished.args[0]
        assert summary.imported == len(DOCS) and not summary.failed
        assert services._engine is not None and services._engine.outdated() == []
    finally:
        w.close()
        assert services.shutdown(10.0)
