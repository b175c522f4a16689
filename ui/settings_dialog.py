"""Engine settings, the OpenAI key and the data folder.

The key goes straight from the field to the OS keyring through a worker and the field is cleared:
a stored key is never read back into the dialog. The dialog shows only whether a key is stored and
which keyring backend holds it.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.services import KeyInfo, Services, Settings
from ui.model_manager import ModelManager

log = logging.getLogger(__name__)

GPU_CHOICES = [("auto", "Auto (use the GPU when this build can)"), ("all", "All layers on the GPU"),
               ("0", "None (CPU only)"), ("n", "A number of layers…")]


def _desc(name: str) -> str:
    for f in dataclasses.fields(Settings):
        if f.name == name:
            return str(f.metadata.get("description", ""))
    return ""


class ChooseDataFolder:
    """The folder picker behind the data folder's Change…. Tests patch ``ask``."""

    @classmethod
    def ask(cls, parent: QWidget, start: str) -> str | None:
        return QFileDialog.getExistingDirectory(parent, "Choose the data folder", start) or None


class SettingsDialog(QDialog):
    def __init__(self, services: Services, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Footnote settings")
        self.setObjectName("settingsDialog")
        self.services = services
        self.settings = services.settings()
        self.result_settings: Settings | None = None
        self.key_info: KeyInfo | None = None
        self._saving_key = False
        s = self.settings

        tabs = QTabWidget()

        # -- answers ---------------------------------------------------------------------------
        model = QWidget()
        form = QFormLayout(model)
        self.bundled = QRadioButton("The default model (bundled with Footnote)")
        self.custom = QRadioButton("A GGUF file:")
        group = QButtonGroup(self)
        group.addButton(self.bundled)
        group.addButton(self.custom)
        self.model_path = QLineEdit(s.model_path)
        self.model_path.setPlaceholderText("/path/to/model.gguf")
        self.model_path.setAccessibleName("GGUF model file")
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._browse_model)
        (self.custom if s.model_path else self.bundled).setChecked(True)
        self.custom.toggled.connect(self._update)
        path_row = QHBoxLayout()
        path_row.addWidget(self.custom)
        path_row.addWidget(self.model_path, 1)
        path_row.addWidget(browse)
        form.addRow("Model", self.bundled)
        form.addRow("", self._wrap(path_row))
        self.models_button = QPushButton("Models…")
        self.models_button.setObjectName("openModels")
        self.models_button.setToolTip("Install a better model, choose one, or add a GGUF file")
        self.models_button.clicked.connect(self.open_models)
        self.model_manager: ModelManager | None = None
        models_row = QHBoxLayout()
        models_row.addWidget(self.models_button)
        models_row.addStretch(1)
        form.addRow("", self._wrap(models_row))
        services.model_changed.connect(self._model_changed)

        self.gpu = QComboBox()
        for key, label in GPU_CHOICES:
            self.gpu.addItem(label, key)
        self.gpu.setAccessibleName("GPU layers")
        self.gpu_n = QSpinBox()
        self.gpu_n.setAccessibleName("Number of layers on the GPU")
        self.gpu_n.setRange(1, 999)
        setting = (s.n_gpu_layers or "auto").strip().lower()
        if setting.isdigit() and setting != "0":
            self.gpu.setCurrentIndex(3)
            self.gpu_n.setValue(int(setting))
        else:
            self.gpu.setCurrentIndex(max(0, [k for k, _ in GPU_CHOICES].index(setting)
                                         if setting in ("auto", "all", "0") else 0))
        self.gpu.currentIndexChanged.connect(self._update)
        gpu_row = QHBoxLayout()
        gpu_row.addWidget(self.gpu, 1)
        gpu_row.addWidget(self.gpu_n)
        form.addRow("GPU layers", self._wrap(gpu_row))
        self.gpu_status = QLabel("Checking this build for GPU support…")
        self.gpu_status.setObjectName("gpuStatus")
        form.addRow("", self.gpu_status)

        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(512, 131072)
        self.n_ctx.setSingleStep(512)
        self.n_ctx.setValue(s.n_ctx)
        self.n_ctx.setSuffix(" tokens")
        self.n_ctx.setToolTip(_desc("n_ctx"))
        form.addRow("Context size", self.n_ctx)
        self.temperature = QDoubleSpinBox()
        self.temperature.setRange(0.0, 2.0)
        self.temperature.setSingleStep(0.1)
        self.temperature.setValue(s.temperature)
        self.temperature.setToolTip(_desc("temperature"))
        form.addRow("Temperature", self.temperature)
        self.top_k = QSpinBox()
        self.top_k.setRange(1, 50)
        self.top_k.setValue(s.top_k)
        self.top_k.setToolTip(_desc("top_k"))
        form.addRow("Passages per answer (top-k)", self.top_k)
        tabs.addTab(model, "Model")

        # -- backend and key ----------------------------------------------------------------------
        backend = QWidget()
        bform = QFormLayout(backend)
        self.backend = QComboBox()
        for key, label in (("local", "Local model only"), ("auto", "Local, falling back to OpenAI-compatible"),
                           ("openai", "OpenAI-compatible server only")):
            self.backend.addItem(label, key)
        self.backend.setCurrentIndex(max(0, self.backend.findData(s.backend)))
        self.backend.currentIndexChanged.connect(self._update)
        bform.addRow("Answer backend", self.backend)
        self.base_url = QLineEdit(s.openai_base_url)
        bform.addRow("Base URL", self.base_url)
        self.openai_model = QLineEdit(s.openai_model)
        bform.addRow("Model name", self.openai_model)
        key_box = QGroupBox("OpenAI key")
        kl = QVBoxLayout(key_box)
        self.key = QLineEdit()
        self.key.setObjectName("openaiKey")
        self.key.setAccessibleName("OpenAI key")
        self.key.setEchoMode(QLineEdit.EchoMode.Password)
        self.key.setPlaceholderText("Paste a key to store it in the system keyring")
        self.key.setAttribute(Qt.WidgetAttribute.WA_InputMethodEnabled, False)
        self.remove_key = QPushButton("Remove stored key")
        self.remove_key.setEnabled(False)
        self.remove_key.clicked.connect(self._remove_key)
        row = QHBoxLayout()
        row.addWidget(self.key, 1)
        row.addWidget(self.remove_key)
        kl.addLayout(row)
        self.key_status = QLabel("Checking the system keyring…")
        self.key_status.setObjectName("keyStatus")
        self.key_status.setWordWrap(True)
        kl.addWidget(self.key_status)
        bform.addRow(key_box)
        tabs.addTab(backend, "Backend")

        # -- library and guardrails -------------------------------------------------------------
        lib = QWidget()
        lform = QFormLayout(lib)
        self.data_dir = QLineEdit(str(services.data_dir))
        self.data_dir.setReadOnly(True)
        self.data_dir.setAccessibleName("Data folder")
        change = self.change_data_dir = QPushButton("Change…")
        change.clicked.connect(self._choose_data_dir)
        drow = QHBoxLayout()
        drow.addWidget(self.data_dir, 1)
        drow.addWidget(change)
        lform.addRow("Data folder", self._wrap(drow))
        self.data_note = QLabel("A different folder is a different library; it opens the next time Footnote starts.")
        self.data_note.setObjectName("muted")
        self.data_note.setWordWrap(True)
        lform.addRow("", self.data_note)
        self.blocked_terms = QPlainTextEdit("\n".join(s.blocked_terms))
        self.blocked_terms.setPlaceholderText("One word or phrase per line")
        self.blocked_terms.setFixedHeight(70)
        self.blocked_terms.setTabChangesFocus(True)  # Tab moves on; a keyboard user is never trapped
        lform.addRow("Blocked terms", self.blocked_terms)
        self.blocked_topics = QPlainTextEdit("\n".join(s.blocked_topics))
        self.blocked_topics.setPlaceholderText("One topic per line, e.g. medical advice")
        self.blocked_topics.setFixedHeight(70)
        self.blocked_topics.setTabChangesFocus(True)
        lform.addRow("Blocked topics", self.blocked_topics)
        tabs.addTab(lib, "Library")
        tabs.addTab(self._api_page(s), "Local API")

        self.error = QLabel()
        self.error.setObjectName("errorText")
        self.error.setWordWrap(True)
        self.error.hide()
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(tabs)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.new_data_dir: Path | None = None
        self._update()
        services.gpu_offload(self._show_gpu)
        services.key_info(self._show_key)
        self.resize(560, 460)

    @staticmethod
    def _wrap(layout: QHBoxLayout) -> QWidget:
        w = QWidget()
        layout.setContentsMargins(0, 0, 0, 0)
        w.setLayout(layout)
        return w

    @classmethod
    def ask(cls, parent: QWidget | None, services: Services) -> Settings | None:
        """Open modally; the new settings, or None when cancelled. Tests patch this."""
        dlg = cls(services, parent)
        return dlg.result_settings if dlg.exec() == QDialog.DialogCode.Accepted else None

    # -- live status ----------------------------------------------------------------------------

    def _update(self, *_: object) -> None:
        self.model_path.setEnabled(self.custom.isChecked())
        self.gpu_n.setVisible(self.gpu.currentData() == "n")
        remote = self.backend.currentData() != "local"
        self.base_url.setEnabled(remote)
        self.openai_model.setEnabled(remote)

    def _show_gpu(self, supported: bool | None) -> None:
        if supported is None:
            self.gpu_status.setText("llama-cpp-python is not installed: local answers are unavailable")
        elif supported:
            self.gpu_status.setText("GPU offload available")
        else:
            self.gpu_status.setText("This build runs on the CPU: GPU layers have no effect")

    def _show_key(self, info: KeyInfo) -> None:
        self.key_info = info
        if not info.usable_keyring:
            self.key.setEnabled(False)
            self.remove_key.setEnabled(False)
            env = " OPENAI_API_KEY is set in the environment and will be used." if info.env_present else ""
            self.key_status.setText(
                (info.message[:1].upper() + info.message[1:] + "." if info.message else
                 "No system keyring is available on this computer, so Footnote cannot store the key safely. "
                 "Install and unlock one, such as GNOME Keyring or KDE Wallet, or set OPENAI_API_KEY in the "
                 "environment before starting Footnote.") + env)
            return
        self.key.setEnabled(True)
        self.remove_key.setEnabled(info.stored)
        if info.stored:
            self.key.setPlaceholderText("A key is stored. Paste a new key to replace it")
            self.key_status.setText(f"A key is stored in the system keyring ({info.backend}). "
                                    "It is never shown here.")
        else:
            env = " OPENAI_API_KEY from the environment is used until then." if info.env_present else ""
            self.key_status.setText(f"No key stored. A key you enter is kept in the system keyring "
                                    f"({info.backend}), never in a file.{env}")

    def _remove_key(self) -> None:
        self.remove_key.setEnabled(False)
        self.services.delete_key(lambda _removed: self.services.key_info(self._show_key), self._show_error)

    def _show_error(self, text: str) -> None:
        self.error.setText(text)
        self.error.show()
        self._set_busy(False)

    def _set_busy(self, busy: bool) -> None:
        self._saving_key = busy
        self.buttons.setEnabled(not busy)

    # -- the local API ----------------------------------------------------------------------------

    def _api_page(self, s: Settings) -> QWidget:
        page = QWidget()
        form = QFormLayout(page)
        self.api_enabled = QCheckBox("Run the local API while Footnote is open")
        self.api_enabled.setObjectName("apiEnabled")
        self.api_enabled.setAccessibleName("Run the local API")
        self.api_enabled.setChecked(s.api_enabled)
        self.api_enabled.setToolTip(_desc("api_enabled"))
        form.addRow(self.api_enabled)
        self.api_port = QSpinBox()
        self.api_port.setObjectName("apiPort")
        self.api_port.setAccessibleName("Local API port")
        self.api_port.setRange(1024, 65535)
        self.api_port.setValue(s.api_port)
        form.addRow("Port (on 127.0.0.1)", self.api_port)
        self.api_token = QLineEdit()
        self.api_token.setObjectName("apiToken")
        self.api_token.setAccessibleName("Local API token")
        self.api_token.setReadOnly(True)
        self.api_token.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_token.setPlaceholderText("Choose Show to see the token")
        row = QHBoxLayout()
        row.addWidget(self.api_token, 1)
        for name, label, slot in (("showApiToken", "Show", self._show_api_token),
                                  ("copyApiToken", "Copy", self._copy_api_token),
                                  ("newApiToken", "New token", self._new_api_token)):
            button = QPushButton(label)
            button.setObjectName(name)
            button.setAccessibleName(f"{label} (API token)")
            button.clicked.connect(slot)
            row.addWidget(button)
        form.addRow("Token", self._wrap(row))
        running = self.services.api.status
        self.api_status = QLabel(running if running != "off" else
                                 "OpenAI-compatible chat, import and search for your own scripts; every request "
                                 "needs the token (Authorization: Bearer …). Documentation at /docs.")
        self.api_status.setObjectName("apiStatus")
        self.api_status.setWordWrap(True)
        form.addRow(self.api_status)
        return page

    def _set_api_token(self, token: str, copy: bool = False) -> None:
        self.api_token.setText(token)
        self.api_token.setEchoMode(QLineEdit.EchoMode.Normal)
        if copy:
            QGuiApplication.clipboard().setText(token)
            self.api_status.setText("Token copied")

    def _show_api_token(self) -> None:
        self.services.api_token(self._set_api_token, self._api_error)

    def _copy_api_token(self) -> None:
        self.services.api_token(lambda t: self._set_api_token(t, copy=True), self._api_error)

    def _new_api_token(self) -> None:
        def made(token: str) -> None:
            self._set_api_token(token)
            self.api_status.setText("A new token is in use: programs with the old one must be given this one")

        self.services.regenerate_api_token(made, self._api_error)

    def _api_error(self, text: str) -> None:
        self.api_status.setText(text)

    # -- models ---------------------------------------------------------------------------------

    def open_models(self) -> ModelManager:
        if self.model_manager is None:
            self.model_manager = ModelManager(self.services, self)
            self.model_manager.setWindowModality(Qt.WindowModality.WindowModal)
        else:
            self.model_manager.refresh()
        self.model_manager.show()
        self.model_manager.raise_()
        return self.model_manager

    def _model_changed(self) -> None:
        """The model manager chose a model: OK must keep that choice, not the one shown at open."""
        current = self.services.settings().model_path
        self.settings = dataclasses.replace(self.settings, model_path=current)
        self.model_path.setText(current)
        (self.custom if current else self.bundled).setChecked(True)

    # -- choosing files -------------------------------------------------------------------------

    def _browse_model(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a GGUF model", str(Path.home()), "GGUF models (*.gguf)")
        if path:
            self.model_path.setText(path)
            self.custom.setChecked(True)

    def _choose_data_dir(self) -> None:
        path = ChooseDataFolder.ask(self, str(self.services.data_dir))
        if path:
            self.data_dir.setText(path)
            self.new_data_dir = Path(path)

    # -- result ---------------------------------------------------------------------------------

    def collect(self) -> Settings:
        gpu = self.gpu.currentData()
        gpu_value = str(self.gpu_n.value()) if gpu == "n" else str(gpu)

        def lines(edit: QPlainTextEdit) -> list[str]:
            return [t.strip() for t in edit.toPlainText().splitlines() if t.strip()]

        return dataclasses.replace(
            self.settings,
            model_path=self.model_path.text().strip() if self.custom.isChecked() else "",
            n_gpu_layers=gpu_value,
            n_ctx=self.n_ctx.value(),
            temperature=round(self.temperature.value(), 2),
            top_k=self.top_k.value(),
            backend=str(self.backend.currentData()),
            openai_base_url=self.base_url.text().strip() or self.settings.openai_base_url,
            openai_model=self.openai_model.text().strip() or self.settings.openai_model,
            blocked_terms=lines(self.blocked_terms),
            blocked_topics=lines(self.blocked_topics),
            api_enabled=self.api_enabled.isChecked(),
            api_port=self.api_port.value(),
        )

    def _accept(self) -> None:
        if self._saving_key:
            return
        if self.custom.isChecked() and not Path(self.model_path.text().strip()).is_file():
            self._show_error(f"{self.model_path.text().strip() or 'the model'}: no such GGUF file")
            return
        self.result_settings = self.collect()
        if self.new_data_dir is not None:
            try:
                self.services.choose_data_dir(self.new_data_dir)  # the CLI follows the same choice
            except OSError as exc:
                self._show_error(f"{self.new_data_dir}: the data folder could not be remembered ({exc.strerror})")
                return
        key = self.key.text().strip()
        if not key:
            self.accept()
            return
        self._set_busy(True)

        def stored(_backend: str) -> None:
            self.key.clear()
            self._set_busy(False)
            self.accept()

        self.services.store_key(key, stored, self._show_error)
