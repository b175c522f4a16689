"""One data folder for the window and the CLI: the same rule picks it (``--data-dir``, then
``FOOTNOTE_DATA_DIR``, then the folder chosen in Settings, then the platform default), so a folder
chosen in the window is the one ``footnote`` uses, and the other way round."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private config and data home, so no test reads or writes the user's own choice."""
    home = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.delenv("FOOTNOTE_DATA_DIR", raising=False)
    return home


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "desktop.main", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_rule_in_order(config_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = settings.resolve_data_dir()
    assert default == tmp_path / "xdg-data" / "Footnote"
    chosen = tmp_path / "chosen"
    settings.choose_data_dir(chosen)
    assert settings.resolve_data_dir() == chosen == settings.default_data_dir()
    monkeypatch.setenv("FOOTNOTE_DATA_DIR", str(tmp_path / "env"))
    assert settings.resolve_data_dir() == tmp_path / "env"
    assert settings.resolve_data_dir(tmp_path / "flag") == tmp_path / "flag"
    monkeypatch.delenv("FOOTNOTE_DATA_DIR")
    settings.choose_data_dir(None)
    assert settings.resolve_data_dir() == default


def test_a_folder_chosen_in_the_window_is_the_cli_folder(qtbot, config_home: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QDialogButtonBox

    from desktop.app import resolve_data_dir
    from desktop.services import Services
    from ui import settings_dialog

    first = tmp_path / "first"
    settings.Settings().save(first)
    chosen = tmp_path / "Shared library"
    monkeypatch.setattr(settings_dialog.ChooseDataFolder, "ask", classmethod(lambda cls, parent, start: str(chosen)))
    services = Services(first)
    try:
        dlg = settings_dialog.SettingsDialog(services)
        qtbot.addWidget(dlg)
        qtbot.mouseClick(dlg.change_data_dir, Qt.MouseButton.LeftButton)
        assert dlg.data_dir.text() == str(chosen)
        qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    finally:
        assert services.shutdown(10.0)
    # The next window opens there ...
    assert resolve_data_dir(argparse.Namespace(data_dir=None)) == chosen
    # ... and so does the CLI, with no flag and no environment variable.
    env = {k: v for k, v in os.environ.items() if k != "FOOTNOTE_DATA_DIR"}
    note = tmp_path / "kiwi.txt"
    note.write_text("The kiwi is a flightless bird native to New Zealand.", encoding="utf-8")
    proc = cli("--json", "ingest", str(note), env=env)
    assert proc.returncode == 0, proc.stderr
    listed = cli("--json", "list", env=env)
    assert [Path(d["source"]).name for d in json.loads(listed.stdout)["documents"]] == ["kiwi.txt"]
    assert not (tmp_path / "xdg-data" / "Footnote").exists(), "nothing went to the default folder"


def test_an_older_window_choice_moves_to_the_shared_rule(qtbot, config_home: Path, tmp_path: Path) -> None:
    from PySide6.QtCore import QSettings

    from desktop.app import resolve_data_dir

    # Window state of this test only (on Unix the native format is the INI one).
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "qsettings"))
    legacy = tmp_path / "legacy library"
    QSettings().setValue("data_dir", str(legacy))
    try:
        assert resolve_data_dir(argparse.Namespace(data_dir=None)) == legacy
        assert settings.resolve_data_dir() == legacy, "the CLI now agrees"
        assert QSettings().value("data_dir") is None
    finally:
        QSettings().remove("data_dir")
