"""Fixtures for the window tests: a real engine on a temporary data folder, the bundled models,
and an isolated QSettings, so nothing touches the user's own library or window state."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from collections.abc import Iterator  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from core.settings import Settings  # noqa: E402
from desktop.services import Services  # noqa: E402

ENGINE_TIMEOUT_MS = 120_000

DOCS = {
    "solar.md": "# Solar power\n\nSolar panels convert sunlight into electricity using photovoltaic cells. "
                "The first practical silicon solar cell was built at Bell Labs in 1954 by Chapin, Fuller "
                "and Pearson.\n",
    "tea.md": "# Green tea\n\nGreen tea is made from the leaves of Camellia sinensis that have not been "
              "withered or oxidised. Green tea originated in China.\n",
    "volcano.md": "# Volcanoes of Iceland\n\nThe eruption of Eyjafjallajökull in 2010 grounded flights across "
                  "Europe for six days because of its ash cloud.\n",
}


def quick_settings(**overrides: object) -> Settings:
    """Short, deterministic answers keep the real model quick."""
    base: dict[str, object] = {"max_answer_tokens": 32, "temperature": 0.0, "n_ctx": 2048, "top_k": 3}
    base.update(overrides)
    return Settings(**base)  # type: ignore[arg-type]


@pytest.fixture(scope="session", autouse=True)
def _qt_app(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> QApplication:
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path_factory.mktemp("qsettings")))
    from desktop.app import make_app

    make_app()
    return qapp


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    quick_settings().save(d)
    return d


@pytest.fixture
def services(data_dir: Path) -> Iterator[Services]:
    s = Services(data_dir)
    yield s
    assert s.shutdown(10.0), "workers did not stop"


def open_window(qtbot, services: Services):  # type: ignore[no-untyped-def]
    """A shown main window whose engine is open and ready."""
    from ui.main_window import MainWindow

    w = MainWindow(services)
    qtbot.addWidget(w)
    w.show()
    with qtbot.waitSignal(services.engine_state, timeout=ENGINE_TIMEOUT_MS,
                          check_params_cb=lambda state, _m: state == "ready"):
        w.start()
    return w


@pytest.fixture
def window(qtbot, services: Services):  # type: ignore[no-untyped-def]
    w = open_window(qtbot, services)
    yield w
    w.close()


