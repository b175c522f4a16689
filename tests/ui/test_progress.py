"""Progress only moves forward: the job's figure, each item's figure and the status bar's overall
figure, even as a folder walk finds new items that bring chunks of their own."""

from __future__ import annotations

import re
from pathlib import Path

from core.events import IngestEvent
from desktop.jobs import ImportJob
from tests.ui.helpers import all_ready, drop
from ui.import_panel import JobsPanel
from ui.library_panel import status_text

IMPORT_MS = 120_000


def ev(kind: str, source: str, done: int = 0, total: int = 0) -> IngestEvent:
    return IngestEvent(kind, source, done=done, total=total)  # type: ignore[arg-type]


def test_a_new_item_never_pulls_the_job_back(qtbot) -> None:
    job = ImportJob("folder")
    seen: list[float] = []
    stream = [ev("started", "a"), ev("chunked", "a", 0, 4), ev("embedded", "a", 4, 4), ev("done", "a", 4, 4),
              ev("started", "b"), ev("chunked", "b", 0, 10), ev("embedded", "b", 5, 10),
              ev("started", "c"), ev("started", "d"), ev("embedded", "b", 10, 10), ev("done", "b", 10, 10),
              ev("failed", "c"), ev("chunked", "d", 0, 2), ev("embedded", "d", 2, 2), ev("done", "d", 2, 2)]
    for e in stream:
        job._on_event(e)
        seen.append(job.fraction())
    assert seen == sorted(seen), f"the job's figure went back: {seen}"
    assert seen[3] == 1.0 and seen[-1] == 1.0  # one item of one, then four of four
    job._finish()
    assert job.fraction() == 1.0


def test_an_item_started_over_keeps_its_figure(qtbot) -> None:
    job = ImportJob("one")
    figures = []
    for e in [ev("started", "a"), ev("chunked", "a", 0, 8), ev("embedded", "a", 6, 8),
              ev("chunked", "a", 0, 8), ev("embedded", "a", 2, 8), ev("embedded", "a", 8, 8)]:
        job._on_event(e)
        figures.append(job.item_fraction("a"))
    assert figures == [0.0, 0.0, 0.75, 0.75, 0.75, 1.0]


def test_the_overall_figure_holds_when_another_import_is_queued(qtbot) -> None:
    panel = JobsPanel()
    qtbot.addWidget(panel)
    first = ImportJob("report.pdf")
    panel.add(first)
    first._on_event(ev("started", "a"))
    first._on_event(ev("embedded", "a", 9, 10))
    before = panel.overall()
    assert before == 0.9
    second = ImportJob("https://example.org/")
    panel.add(second)
    assert panel.overall() >= before
    first._on_event(ev("done", "a", 10, 10))
    first._finish()  # its row goes; the second job still runs
    assert panel.overall() >= before
    second._on_event(ev("started", "b"))
    second._on_event(ev("done", "b", 3, 3))
    assert panel.overall() == 1.0


def test_a_folder_import_in_the_window_only_moves_forward(qtbot, window, tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    for i in range(8):
        # Sizes grow so that later items bring more chunks than the first ones.
        (folder / f"note{i}.txt").write_text(f"Note {i} about harbours. " + "Boats and tides and ropes. " * (40 * i + 5),
                                             encoding="utf-8")
    overall: list[int] = []
    rows: dict[str, list[int]] = {}
    window.overall.valueChanged.connect(overall.append)

    def sample(*_a: object) -> None:
        for d in window.library.model.documents():
            m = re.match(r"importing (\d+)%", status_text(d))
            if m:
                rows.setdefault(d.source, []).append(int(m.group(1)))
    window.library.model.dataChanged.connect(sample)
    window.library.model.rowsInserted.connect(sample)
    bars: list[int] = []
    # The window adds the job's row first (it connected earlier), so the row is there to watch.
    window.services.import_started.connect(lambda job: window.jobs.rows[job].bar.valueChanged.connect(bars.append))
    drop(window, [folder])
    qtbot.waitUntil(lambda: all_ready(window, [f"note{i}.txt" for i in range(8)]), timeout=IMPORT_MS)
    qtbot.waitUntil(lambda: not window.jobs.isVisible(), timeout=IMPORT_MS)
    assert overall and overall == sorted(overall), f"the status bar's figure went back: {overall}"
    assert bars == sorted(bars), f"the job row's bar went back: {bars}"
    assert rows, "rows showed their percentage while importing"
    for source, figures in rows.items():
        assert figures == sorted(figures), f"{source}: {figures}"
