"""Builds the engine services and the main window (placeholder until the window lands)."""

from __future__ import annotations

import argparse


def run_app(args: argparse.Namespace) -> int:
    from PySide6.QtWidgets import QApplication, QLabel

    app = QApplication.instance() or QApplication([])
    label = QLabel("Footnote — drop documents here or paste a link")
    label.setWindowTitle("Footnote")
    label.resize(640, 400)
    label.show()
    return int(app.exec())
