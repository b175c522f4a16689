"""The local API inside the window: the settings switch starts the same server over the window's
engine, the token is shown and replaced in the dialog (real Secret Service), and the API's
imports refresh the window's library."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import httpx
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QPushButton

from core import secrets
from ui import settings_dialog


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_switch_token_and_library_refresh(qtbot, window, secret_service, monkeypatch, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(secrets.API_TOKEN_ENV, raising=False)
    services = window.services
    port = _free_port()
    shown: dict[str, str] = {}

    def fill(cls, parent, svc):  # type: ignore[no-untyped-def]
        dlg = cls(svc, parent)
        qtbot.addWidget(dlg)
        assert dlg.api_token.echoMode() == QLineEdit.EchoMode.Password and not dlg.api_token.text()
        qtbot.mouseClick(dlg.findChild(QPushButton, "showApiToken"),
                         Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(dlg.api_token.text()), timeout=15_000)
        first = dlg.api_token.text()
        assert first == secrets.api_token() and dlg.api_token.echoMode() == QLineEdit.EchoMode.Normal
        qtbot.mouseClick(dlg.findChild(QPushButton, "newApiToken"),
                         Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dlg.api_token.text() not in ("", first), timeout=15_000)
        shown["token"] = dlg.api_token.text()
        dlg.api_enabled.setChecked(True)
        dlg.api_port.setValue(port)
        qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
        assert dlg.result() == QDialog.DialogCode.Accepted
        return dlg.result_settings

    monkeypatch.setattr(settings_dialog.SettingsDialog, "ask", classmethod(fill))
    window.open_settings()
    qtbot.waitUntil(lambda: services.api.status.startswith("Local API running"), timeout=30_000)
    token = shown["token"]
    assert token == secrets.api_token()
    url = f"http://127.0.0.1:{port}"
    doc = tmp_path / "otters.md"
    doc.write_text("# Sea otters\n\nSea otters hold hands while they sleep so that they do not drift apart.\n",
                   encoding="utf-8")
    result: dict[str, object] = {}

    def client_work() -> None:  # the API's client runs beside the GUI thread, as a script would
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as c:
            result["old"] = c.get("/v1/models", headers={"Authorization": "Bearer " + "x" * 10}).status_code
            r = c.post("/v1/documents", files={"file": (doc.name, doc.read_bytes(), "text/markdown")})
            result["job"] = r.json()["id"]
            done = threading.Event()
            while not done.wait(0.1):
                job = c.get(f"/v1/jobs/{result['job']}").json()
                if job["finished"] is not None:
                    result["status"] = job["status"]
                    break

    with qtbot.waitSignal(services.library_changed, timeout=120_000):
        worker = threading.Thread(target=client_work)
        worker.start()
        qtbot.waitUntil(lambda: not worker.is_alive(), timeout=120_000)
    assert result["old"] == 401 and result["status"] == "done"

    # Switching off frees the port.
    new = services.settings()
    new.api_enabled = False
    services.save_settings(new)
    qtbot.waitUntil(lambda: services.api.status == "off", timeout=15_000)
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
