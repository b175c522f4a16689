"""About Footnote: the version, where the library lives, and the licences of the bundled models."""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

from desktop.services import AboutInfo
from ui.safe_text import SafeTextBrowser

log = logging.getLogger(__name__)


class AboutDialog(QDialog):
    def __init__(self, info: AboutInfo, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aboutDialog")
        self.setWindowTitle("About Footnote")
        self.title = QLabel(f"Footnote {info.version}")
        self.title.setObjectName("aboutTitle")
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        self.title.setFont(font)
        body = QLabel("Footnote reads your documents on this computer and answers questions about them, "
                      "citing every passage it used.")
        body.setWordWrap(True)
        self.data_folder = QLabel(f"Data folder (library, settings, log): {info.data_dir}")
        self.data_folder.setObjectName("aboutDataFolder")
        self.data_folder.setWordWrap(True)
        self.data_folder.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        heading = QLabel("Model licences")
        heading.setObjectName("paneTitle")
        self.licences = SafeTextBrowser()
        self.licences.setObjectName("licences")
        self.licences.setOpenExternalLinks(True)
        self.licences.setMarkdown(info.licences)  # LICENSES.md: hard-wrapped markdown, re-flowed here
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.close)
        self.close_button = buttons.button(QDialogButtonBox.StandardButton.Close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(body)
        layout.addWidget(self.data_folder)
        layout.addWidget(heading)
        layout.addWidget(self.licences, 1)
        layout.addWidget(buttons)
        self.resize(720, 560)
