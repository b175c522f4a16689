"""The settings dialog: engine settings to the settings file, the key to the real Secret Service."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractButton, QDialog, QDialogButtonBox, QLabel, QLineEdit, QPlainTextEdit

from core import secrets
from core.settings import Settings
from desktop.services import Services
from ui import settings_dialog
from ui.settings_dialog import SettingsDialog

KEY = "sk-test-window-7d3a91c0b5e24f68a1"


def visible_text(dlg: QDialog) -> str:
    """Every string the dialog could show: texts, placeholders, tooltips."""
    parts: list[str] = []
    for w in dlg.findChildren(QLineEdit):
        parts += [w.text(), w.placeholderText(), w.toolTip(), w.displayText()]
    for w in dlg.findChildren(QLabel):
        parts += [w.text(), w.toolTip()]
    for w in dlg.findChildren(QPlainTextEdit):
        parts.append(w.toPlainText())
    for w in dlg.findChildren(QAbstractButton):
        parts += [w.text(), w.toolTip()]
    return "\n".join(parts)


def ok(qtbot, dlg: SettingsDialog) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)


@pytest.fixture
def dialog_services(data_dir: Path):  # type: ignore[no-untyped-def]
    s = Services(data_dir)
    yield s
    assert s.shutdown(10.0)


def test_key_goes_to_the_keyring_and_is_never_shown(qtbot, dialog_services, secret_service, monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    try:
        secrets.delete_key()
    except secrets.KeyringUnavailable:
        pytest.fail("the test Secret Service is not usable")
    dlg = SettingsDialog(dialog_services)
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: dlg.key_info is not None, timeout=15_000)
    assert dlg.key.isEnabled()
    assert "No key stored" in dlg.key_status.text() and "GNOME Keyring or KWallet" in dlg.key_status.text()
    assert dlg.key.echoMode() == QLineEdit.EchoMode.Password
    qtbot.keyClicks(dlg.key, KEY)
    ok(qtbot, dlg)
    qtbot.waitUntil(lambda: dlg.result() == QDialog.DialogCode.Accepted, timeout=15_000)
    assert secrets.stored_key() == KEY
    assert dlg.key.text() == ""
    assert not (dlg.services.data_dir / "settings.json").read_text().count(KEY)

    # Re-open: it says a key is stored and where, never shows it, and can remove it.
    again = SettingsDialog(dialog_services)
    qtbot.addWidget(again)
    qtbot.waitUntil(lambda: again.key_info is not None, timeout=15_000)
    assert "stored in the system keyring" in again.key_status.text()
    assert "GNOME Keyring or KWallet" in again.key_status.text() and "SecretService" not in again.key_status.text()
    assert KEY not in visible_text(again) and KEY[:8] not in visible_text(again)
    assert again.remove_key.isEnabled()
    qtbot.mouseClick(again.remove_key, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "No key stored" in again.key_status.text(), timeout=15_000)
    assert secrets.stored_key() is None


def test_no_keyring_is_explained(qtbot, dialog_services, monkeypatch) -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        dlg = SettingsDialog(dialog_services)
        qtbot.addWidget(dlg)
        qtbot.waitUntil(lambda: dlg.key_info is not None, timeout=15_000)
        assert not dlg.key.isEnabled()
        text = dlg.key_status.text()
        assert "No system keyring" in text and "OPENAI_API_KEY" in text and "GNOME Keyring" in text
        assert "fail" not in text and "Keyring)" not in text and "backend" not in text, "no class names"
    finally:
        keyring.set_keyring(previous)


def test_engine_settings_are_saved(qtbot, window, monkeypatch, tmp_path: Path) -> None:
    model = tmp_path / "other.gguf"
    model.write_bytes(b"GGUF")

    def fill(cls, parent, services):  # type: ignore[no-untyped-def]
        dlg = cls(services, parent)
        qtbot.addWidget(dlg)
        qtbot.waitUntil(lambda: dlg.gpu_status.text() != "Checking this build for GPU support…", timeout=30_000)
        assert dlg.gpu_status.text() in ("GPU offload available", "This build runs on the CPU: GPU layers have no effect")
        dlg.custom.setChecked(True)
        dlg.model_path.setText(str(model))
        dlg.gpu.setCurrentIndex(3)
        dlg.gpu_n.setValue(12)
        assert not dlg.gpu_n.isHidden()
        dlg.n_ctx.setValue(3072)
        dlg.temperature.setValue(0.7)
        dlg.top_k.setValue(7)
        dlg.backend.setCurrentIndex(dlg.backend.findData("auto"))
        dlg.base_url.setText("http://127.0.0.1:9/v1")
        dlg.openai_model.setText("tiny")
        dlg.blocked_terms.setPlainText("secret project\n\nfoo")
        dlg.blocked_topics.setPlainText("medical advice")
        ok(qtbot, dlg)
        assert dlg.result() == QDialog.DialogCode.Accepted
        return dlg.result_settings

    monkeypatch.setattr(settings_dialog.SettingsDialog, "ask", classmethod(fill))
    qtbot.keyClick(window, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)  # Ctrl+,
    saved = Settings.load(window.services.data_dir)
    assert saved.model_path == str(model) and saved.n_gpu_layers == "12" and saved.n_ctx == 3072
    assert saved.temperature == 0.7 and saved.top_k == 7 and saved.backend == "auto"
    assert saved.openai_base_url == "http://127.0.0.1:9/v1" and saved.openai_model == "tiny"
    assert saved.blocked_terms == ["secret project", "foo"] and saved.blocked_topics == ["medical advice"]
    assert window.services.settings().top_k == 7  # applied to the running engine too
    assert "Settings saved" in window.status_text.text()


def test_missing_model_file_is_refused(qtbot, dialog_services) -> None:
    dlg = SettingsDialog(dialog_services)
    qtbot.addWidget(dlg)
    dlg.custom.setChecked(True)
    dlg.model_path.setText("/nowhere/model.gguf")
    ok(qtbot, dlg)
    assert dlg.result() != QDialog.DialogCode.Accepted
    assert "/nowhere/model.gguf" in dlg.error.text()
