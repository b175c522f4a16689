"""The model manager, the model label, a dropped .gguf and About, with the real model store.

Downloads come from a real HTTP server on 127.0.0.1: the catalog (``FOOTNOTE_CATALOG``) is the
shipped one plus three test entries served by it: one that installs (SmolLM2's real bytes and
hash), one slow enough to cancel, and one that answers 404.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from core.settings import Settings
from desktop.services import ModelJob, Services
from tests.httpserver import HttpServer
from tests.ui.helpers import drop, rows
from ui import main_window as main_window_module
from ui import messages, model_manager
from ui.model_manager import ModelManager

TIMEOUT_MS = 60_000
TINY = "tiny-download"
SLOW = "slow-download"
BROKEN = "broken-download"


def _smollm2() -> Path:
    import models
    from core.model_files import entry_path

    entry = models.find_model("smollm2-135m-instruct-q4_1")
    assert entry is not None
    return entry_path(entry)


@pytest.fixture
def catalog(tmp_path: Path, http_server: HttpServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import models

    gguf = _smollm2()
    shipped = models.load_catalog()
    base = {"kind": "llm", "source": "catalog", "licence": "Apache-2.0", "context": 8192, "ram_gb": 0.4}
    tiny = dict(base, id=TINY, name="Tiny Download (test)", file="tiny-download.gguf",
                size_bytes=gguf.stat().st_size, sha256=next(e for e in shipped["models"]
                                                           if e["id"] == "smollm2-135m-instruct-q4_1")["sha256"],
                pick_when="A test model that downloads in a second.", url=http_server.url("/tiny.gguf"))
    slow = dict(base, id=SLOW, name="Slow Download (test)", file="slow.gguf", size_bytes=50_000_000,
                sha256="0" * 64, pick_when="Never finishes in a test.", url=http_server.url("/slow.gguf"))
    broken = dict(base, id=BROKEN, name="Broken Download (test)", file="broken.gguf", size_bytes=1000,
                  sha256="0" * 64, pick_when="Its server answers 404.", url=http_server.url("/missing.gguf"))
    data = dict(shipped, models=[*shipped["models"], tiny, slow, broken])
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setenv("FOOTNOTE_CATALOG", str(path))

    def tiny_body() -> Iterator[bytes]:
        with gguf.open("rb") as fh:
            while block := fh.read(1 << 20):
                yield block

    http_server.route("/tiny.gguf", tiny_body, headers={"Content-Length": str(gguf.stat().st_size)},
                      content_type="application/octet-stream", chunk_delay=0.01)
    http_server.route("/slow.gguf", lambda: (b"\0" * 65536 for _ in range(700)),
                      content_type="application/octet-stream", chunk_delay=0.05)
    return {"tiny": tiny, "slow": slow, "broken": broken, "gguf": gguf}


def open_manager(qtbot, window) -> ModelManager:  # type: ignore[no-untyped-def]
    window.models_action.trigger()
    mgr = window.model_manager
    assert mgr is not None and mgr.isVisible()
    qtbot.waitUntil(lambda: bool(mgr.models), timeout=TIMEOUT_MS)
    return mgr  # type: ignore[no-any-return]


def status_of(mgr: ModelManager, model_id: str) -> str:
    m = next((m for m in mgr.models if m.id == model_id), None)
    return model_manager.status_of(m) if m is not None else "(not listed)"


def click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    assert button.isEnabled(), f"{button.text()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def started_job(services: Services) -> ModelJob:
    assert services.model_jobs, "no download started"
    return services.model_jobs[-1]


def test_the_window_shows_which_model_answers(qtbot, window) -> None:
    qtbot.waitUntil(lambda: window.model_status is not None, timeout=TIMEOUT_MS)
    text = window.model_label.text()
    assert text.startswith("SmolLM2-135M-Instruct") and "MB" in text
    assert text.endswith(" · CPU") or text.endswith(" · GPU")
    mgr = (qtbot.mouseClick(window.model_label, Qt.MouseButton.LeftButton), window.model_manager)[1]
    assert mgr is not None and mgr.isVisible()
    click(qtbot, mgr.close_button)
    assert not mgr.isVisible()


def test_install_with_progress_then_use_then_remove(qtbot, window, catalog, monkeypatch) -> None:
    mgr = open_manager(qtbot, window)
    assert [c for c in ("Model", "Size", "RAM needed", "Licence", "When to pick it", "Status")
            if c in [mgr.table.headerItem().text(i) for i in range(mgr.table.columnCount())]]
    mgr.select(TINY)
    assert status_of(mgr, TINY) == "Not installed" and not mgr.use_button.isEnabled()
    progress: list[str] = []
    click(qtbot, mgr.install_button)
    job = started_job(window.services)
    job.progress.connect(lambda _v: progress.append(mgr.progress_text.text()))
    assert mgr.progress_row.isVisible() and mgr.cancel_button.isEnabled()
    assert not mgr.install_button.isEnabled(), "one download at a time"
    with qtbot.waitSignal(job.installed, timeout=TIMEOUT_MS):
        pass
    assert progress and any(" of 98.4 MB" in p and "/s" in p for p in progress), progress
    assert any("left" in p for p in progress), progress
    assert not mgr.progress_row.isVisible()
    qtbot.waitUntil(lambda: status_of(mgr, TINY) == "Installed", timeout=TIMEOUT_MS)
    assert "installed" in window.status_text.text()

    mgr.select(TINY)
    click(qtbot, mgr.use_button)
    qtbot.waitUntil(lambda: status_of(mgr, TINY) == "In use", timeout=TIMEOUT_MS)
    assert Settings.load(window.services.data_dir).model_path.endswith("tiny-download.gguf")
    assert window.services.settings().model_path.endswith("tiny-download.gguf"), "the running engine follows"
    qtbot.waitUntil(lambda: window.model_label.text().startswith("Tiny Download (test)"), timeout=TIMEOUT_MS)
    assert not mgr.remove_button.isEnabled(), "the model in use is not removed from under the engine"

    # Back to the default, then remove the download.
    default = next(m for m in mgr.models if m.default)
    mgr.select(default.id)
    click(qtbot, mgr.use_button)
    qtbot.waitUntil(lambda: status_of(mgr, default.id) == "In use", timeout=TIMEOUT_MS)
    assert Settings.load(window.services.data_dir).model_path == ""
    monkeypatch.setattr(model_manager.ConfirmRemoveModel, "ask", classmethod(lambda cls, parent, m: True))
    mgr.select(TINY)
    click(qtbot, mgr.remove_button)
    qtbot.waitUntil(lambda: status_of(mgr, TINY) == "Not installed", timeout=TIMEOUT_MS)
    assert not (window.services.data_dir / "models" / "llm" / "tiny-download.gguf").exists()


def test_cancel_a_download(qtbot, window, catalog) -> None:
    mgr = open_manager(qtbot, window)
    mgr.select(SLOW)
    click(qtbot, mgr.install_button)
    job = started_job(window.services)
    with qtbot.waitSignal(job.progress, timeout=TIMEOUT_MS):
        pass
    assert "Slow Download (test)" in mgr.progress_text.text() and "/s" in mgr.progress_text.text()
    with qtbot.waitSignal(job.cancelled, timeout=TIMEOUT_MS):
        click(qtbot, mgr.cancel_button)
    assert not mgr.progress_row.isVisible() and "cancelled" in mgr.line.text()
    assert (window.services.data_dir / "models" / "llm" / "slow.gguf.part").exists(), "kept to resume"
    assert status_of(mgr, SLOW) == "Not installed" and mgr.install_button.isEnabled()


def test_a_failed_download_names_the_model_and_the_reason(qtbot, window, catalog) -> None:
    mgr = open_manager(qtbot, window)
    mgr.select(BROKEN)
    click(qtbot, mgr.install_button)
    job = started_job(window.services)
    with qtbot.waitSignal(job.failed, timeout=TIMEOUT_MS) as failed:
        pass
    text = failed.args[0]
    assert text.startswith("Broken Download (test)") and "404" in text
    assert mgr.line.text() == text and mgr.line.objectName() == "errorText"
    last = messages.bus().history[-1]
    assert last.level is messages.Level.ERROR and last.text == text


def test_add_a_gguf_file(qtbot, window, tmp_path, monkeypatch) -> None:
    mine = tmp_path / "my-model.gguf"
    shutil.copyfile(_smollm2(), mine)
    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("hello", encoding="utf-8")
    mgr = open_manager(qtbot, window)
    choice = [str(not_gguf)]
    monkeypatch.setattr(model_manager.ChooseGguf, "ask", classmethod(lambda cls, parent: choice[0]))
    click(qtbot, mgr.add_button)
    qtbot.waitUntil(lambda: mgr.line.objectName() == "errorText", timeout=TIMEOUT_MS)
    assert "notes.gguf" in mgr.line.text() and "not a GGUF model file" in mgr.line.text()

    choice[0] = str(mine)
    click(qtbot, mgr.add_button)
    qtbot.waitUntil(lambda: any(m.source == "local" for m in mgr.models), timeout=TIMEOUT_MS)
    local = next(m for m in mgr.models if m.source == "local")
    assert local.name == "my-model" and status_of(mgr, local.id) == "Installed"
    qtbot.waitUntil(lambda: mgr.selected() is not None and mgr.selected().id == local.id, timeout=TIMEOUT_MS)  # type: ignore[union-attr]
    monkeypatch.setattr(model_manager.ConfirmRemoveModel, "ask", classmethod(lambda cls, parent, m: True))
    click(qtbot, mgr.remove_button)
    qtbot.waitUntil(lambda: all(m.source != "local" for m in mgr.models), timeout=TIMEOUT_MS)
    assert mine.exists(), "forgetting a local model never deletes the user's file"


def test_dropping_a_gguf_offers_to_use_it_as_the_model(qtbot, window, tmp_path, monkeypatch) -> None:
    mine = tmp_path / "dropped.gguf"
    shutil.copyfile(_smollm2(), mine)
    asked: list[str] = []
    answer = [False]
    monkeypatch.setattr(main_window_module.UseDroppedModel, "ask",
                        classmethod(lambda cls, parent, name: asked.append(name) or answer[0]))
    drop(window, [mine])
    assert window.overlay.text == "Drop to use as the model that answers"
    qtbot.waitUntil(lambda: asked == ["dropped.gguf"], timeout=TIMEOUT_MS)
    assert not window.services.jobs and not rows(window), "a model file is never imported as a document"
    assert Settings.load(window.services.data_dir).model_path == ""

    answer[0] = True
    drop(window, [mine])
    qtbot.waitUntil(lambda: len(asked) == 2, timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: Settings.load(window.services.data_dir).model_path == str(mine.resolve()),
                    timeout=TIMEOUT_MS)
    qtbot.waitUntil(lambda: window.model_label.text().startswith("dropped"), timeout=TIMEOUT_MS)
    assert "now answers your questions" in window.status_text.text()


def test_about_shows_the_version_and_the_model_licences(qtbot, window) -> None:
    window.about_action.trigger()
    qtbot.waitUntil(lambda: window.about_dialog is not None and window.about_dialog.isVisible(), timeout=TIMEOUT_MS)
    dlg = window.about_dialog
    assert dlg.title.text() == f"Footnote {metadata.version('footnote')}"
    text = dlg.licences.toPlainText()
    assert "Apache" in text and "Qwen" in text
    click(qtbot, dlg.close_button)
    assert not dlg.isVisible()


def test_the_settings_dialog_opens_the_model_manager(qtbot, data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from ui.settings_dialog import SettingsDialog

    mine = tmp_path / "chosen.gguf"
    shutil.copyfile(_smollm2(), mine)
    monkeypatch.setattr(model_manager.ChooseGguf, "ask", classmethod(lambda cls, parent: str(mine)))
    services = Services(data_dir)
    try:
        dlg = SettingsDialog(services)
        qtbot.addWidget(dlg)
        click(qtbot, dlg.models_button)
        mgr = dlg.model_manager
        assert mgr is not None and mgr.isVisible()
        qtbot.waitUntil(lambda: bool(mgr.models), timeout=TIMEOUT_MS)
        default = next(m for m in mgr.models if m.default)
        assert default.in_use and model_manager.status_of(default) == "In use"
        # A model chosen in the manager is what the settings dialog then saves, not the one it opened with.
        click(qtbot, mgr.add_button)
        qtbot.waitUntil(lambda: mgr.selected() is not None and mgr.selected().source == "local",  # type: ignore[union-attr]
                        timeout=TIMEOUT_MS)
        click(qtbot, mgr.use_button)
        qtbot.waitUntil(lambda: dlg.model_path.text() == str(mine.resolve()), timeout=TIMEOUT_MS)
        assert dlg.custom.isChecked()
        mgr.close()
        assert dlg.collect().model_path == str(mine.resolve())
    finally:
        assert services.shutdown(10.0)
