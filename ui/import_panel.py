"""Getting content in: the link field with its crawl options, and one progress row per import job.

Imports run one at a time in the background; each row shows its own progress and a Cancel button,
and the window's status bar shows the overall progress. The chat stays usable meanwhile.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.services import ImportJob, IngestEvent
from desktop.workers import emit

log = logging.getLogger(__name__)


def looks_like_url(text: str) -> bool:
    t = text.strip()
    return t.lower().startswith(("http://", "https://")) and " " not in t and "\n" not in t


class ImportBar(QWidget):
    """URL field plus crawl options. ``crawl`` off means just the page itself."""

    import_url = Signal(str, int, int)  # url, depth, max pages
    add_files = Signal()
    add_folder = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.url = QLineEdit()
        self.url.setObjectName("urlField")
        self.url.setAccessibleName("Link to import")
        self.url.setPlaceholderText("Paste a link to import a web page (Ctrl+L)")
        self.url.setClearButtonEnabled(True)
        self.url.returnPressed.connect(self._submit)
        self.url.textChanged.connect(self._update)
        self.import_button = QPushButton("Import")
        self.import_button.clicked.connect(self._submit)
        self.crawl = QCheckBox("Follow links on the same site")
        self.crawl.setToolTip("Also import pages this page links to, on the same site only")
        self.depth_box = QSpinBox()
        self.depth_box.setRange(1, 5)
        self.depth_box.setValue(1)
        self.depth_box.setPrefix("depth ")
        self.depth_box.setAccessibleName("Link depth")
        self.depth_box.setToolTip("How many links away from the first page to go")
        self.max_pages = QSpinBox()
        self.max_pages.setRange(1, 500)
        self.max_pages.setValue(20)
        self.max_pages.setPrefix("max ")
        self.max_pages.setSuffix(" pages")
        self.max_pages.setAccessibleName("Most pages to import")
        self.crawl.toggled.connect(self._update)
        self.files_button = QToolButton()
        self.files_button.setText("Add files…")
        self.files_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.files_button.clicked.connect(self.add_files)

        row = QHBoxLayout()
        row.setSpacing(6)
        row.addWidget(self.url, 1)
        row.addWidget(self.import_button)
        row.addWidget(self.files_button)
        options = QHBoxLayout()
        options.setSpacing(8)
        options.addWidget(self.crawl)
        options.addWidget(self.depth_box)
        options.addWidget(self.max_pages)
        options.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 4)
        layout.setSpacing(4)
        layout.addLayout(row)
        layout.addLayout(options)
        self._update()

    def _update(self, *_: object) -> None:
        self.import_button.setEnabled(looks_like_url(self.url.text()))
        self.depth_box.setEnabled(self.crawl.isChecked())
        self.max_pages.setEnabled(self.crawl.isChecked())

    def options(self) -> tuple[int, int]:
        if self.crawl.isChecked():
            return self.depth_box.value(), self.max_pages.value()
        return 0, 1

    def _submit(self) -> None:
        url = self.url.text().strip()
        if not looks_like_url(url):
            return
        depth, max_pages = self.options()
        self.url.clear()
        emit(self.import_url, url, depth, max_pages)


class JobRow(QFrame):
    """One job: what it is, how far it got, Cancel."""

    def __init__(self, job: ImportJob, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.job = job
        self.setObjectName("jobRow")
        self.label = QLabel(job.label)
        self.label.setMinimumWidth(80)
        self.detail = QLabel("waiting…")
        self.detail.setObjectName("muted")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.cancel = QPushButton("Cancel")
        self.cancel.setObjectName("cancelImport")
        self.cancel.clicked.connect(self._cancel)
        top = QHBoxLayout()
        top.addWidget(self.label, 1)
        top.addWidget(self.detail)
        top.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 4, 8, 4)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.bar)
        job.progress.connect(self.refresh)

    def _cancel(self) -> None:
        self.job.cancel()
        self.cancel.setEnabled(False)
        self.detail.setText("cancelling…")

    def refresh(self) -> None:
        if self.job.cancelled:
            return
        finished, seen = self.job.counts()
        current = next((ev for ev in reversed(self.job.items.values())
                        if ev.kind in ("started", "chunked", "embedded")), None)
        name = _name(current) if current else ""
        item = f" {int(100 * self.job.item_fraction(current.source))}%" if current is not None else ""
        self.detail.setText(f"{finished}/{seen} · {name}{item}" if name else f"{finished}/{seen} done")
        self.bar.setValue(max(self.bar.value(), int(1000 * self.job.fraction())))


def _name(ev: IngestEvent) -> str:
    if ev.title:
        return ev.title[:40]
    return ev.source.rstrip("/").rsplit("/", 1)[-1][:40]


class JobsPanel(QWidget):
    """Progress rows for running and queued imports; hidden when there are none."""

    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: dict[ImportJob, JobRow] = {}
        self._overall = 0.0  # never moves back while imports run; starts over when they all end
        self._done_weight = 0  # items of jobs that finished while others still run
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(10, 0, 10, 4)
        self._layout.setSpacing(4)
        self.setVisible(False)
        # Coalesce progress repaints: an import can emit hundreds of events a second.
        self._tick = QTimer(self)
        self._tick.setInterval(100)
        self._tick.timeout.connect(self._refresh_all)

    def add(self, job: ImportJob) -> None:
        row = JobRow(job, self)
        job.progress.disconnect(row.refresh)
        self.rows[job] = row
        self._layout.addWidget(row)
        job.finished.connect(lambda _s, j=job: self.remove(j))
        self.setVisible(True)
        self._tick.start()
        emit(self.changed)

    def remove(self, job: ImportJob) -> None:
        row = self.rows.pop(job, None)
        if row is not None:
            row.setParent(None)
            row.deleteLater()
            self._done_weight += max(1, len(job.items))
        if not self.rows:
            self.setVisible(False)
            self._tick.stop()
            self._overall = 0.0
            self._done_weight = 0
        emit(self.changed)

    def _refresh_all(self) -> None:
        for row in self.rows.values():
            row.refresh()

    def overall(self) -> float:
        """One figure for every import since the panel last emptied, weighted by items, so a long
        folder import counts more than a single link; a job queued later never pulls it back."""
        jobs = list(self.rows)
        if not jobs:
            return 1.0
        weights = [max(1, len(j.items)) for j in jobs]
        total = self._done_weight + sum(weights)
        done = self._done_weight + sum(w * j.fraction() for w, j in zip(weights, jobs, strict=True))
        self._overall = max(self._overall, min(1.0, done / total))
        return self._overall
