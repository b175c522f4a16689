"""Real-window screenshots: run under Xvfb, look at the PNGs.

    xvfb-run -a .venv/bin/python tests/screenshots.py

Saves tests/artifacts/empty.png, importing.png and answer.png: the empty state, an import in
progress (with a failed item), and an answer with citations and the source viewer open; then
grounded.png (an answer with a sentence no passage supports, and an abstention with its
suggestions, the chat scoped to one document, a suggestion open in the viewer; drawn from records
built on real search hits, so the picture does not depend on sampling), models.png (the model
manager) and about.png.

    xvfb-run -a env QT_SCALE_FACTOR=2 .venv/bin/python tests/screenshots.py --review tests/screenshots/dark-200 --dark

draws the window and the settings dialog for review (no model needed: the answer is built from
real search hits) into the given folder, with ``regions.json``: where known widgets are in each
picture, in image pixels, so tests/ui/test_screenshots.py can check the dark palette and the
contrast of their text. ``--dark`` asks Qt for the dark colour scheme, as a desktop set to dark does.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PySide6.QtCore import QCoreApplication, QEventLoop, QSettings  # noqa: E402

ART = ROOT / "tests" / "artifacts"


def wait(cond: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise SystemExit(f"timed out waiting for {what}")
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.01)


def settle(seconds: float = 0.4) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        time.sleep(0.01)


def main() -> int:
    if "--review" in sys.argv:
        at = sys.argv.index("--review")
        return review(Path(sys.argv[at + 1]), dark="--dark" in sys.argv)
    tmp = Path(tempfile.mkdtemp(prefix="footnote-shots-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "qsettings"))
    from core.settings import Settings
    from desktop.app import make_app
    from desktop.services import Services
    from ui.main_window import MainWindow

    app = make_app()
    ART.mkdir(parents=True, exist_ok=True)
    data = tmp / "data"
    Settings(max_answer_tokens=60, temperature=0.0, n_ctx=2048, top_k=3).save(data)
    docs = tmp / "docs"
    docs.mkdir()
    (docs / "solar-power.md").write_text(
        "# Solar power\n\n## History\n\nSolar panels convert sunlight into electricity using photovoltaic cells. "
        "The first practical silicon solar cell was built at Bell Labs in 1954 by Daryl Chapin, Calvin Fuller "
        "and Gerald Pearson. It converted about six percent of sunlight into electricity.\n", encoding="utf-8")
    (docs / "green-tea.md").write_text(
        "# Green tea\n\nGreen tea is made from the leaves of Camellia sinensis that have not been withered or "
        "oxidised. It originated in China.\n", encoding="utf-8")
    (docs / "a-scanned-report.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    for i in range(12):
        (docs / f"harbour-notes-{i:02d}.txt").write_text(
            f"Harbour notes {i}. " + "Lighthouses, tides and the ships that pass the breakwater. " * 900,
            encoding="utf-8")
    services = Services(data)
    w = MainWindow(services)
    w.resize(1280, 800)
    w.show()
    w.start()
    wait(lambda: services.state == "ready", 120, "the engine")
    settle()
    w.grab().save(str(ART / "empty.png"))

    w.import_paths([str(docs)])
    wait(lambda: any(d.status == "failed" for d in w.library.model.documents())
         and any(d.status == "importing" and d.done for d in w.library.model.documents()), 120, "import progress")
    w.jobs._refresh_all()
    w._update_overall()
    QCoreApplication.processEvents()
    w.grab().save(str(ART / "importing.png"))
    wait(lambda: not services.jobs, 300, "the import")
    settle()

    w.chat.input.setPlainText("Who built the first practical silicon solar cell, and when?")
    w.chat._submit(w.chat.input.toPlainText())
    wait(lambda: bool(w.chat.answers) and w.chat.answers[-1].finished, 300, "the answer")
    answer = w.chat.answers[-1]
    if answer.citations:
        answer.sources.linkActivated.emit("cite:1")
    settle(1.0)
    w.grab().save(str(ART / "answer.png"))
    print("answer:", answer.text)
    grounded(w, services)
    w.open_models()
    mgr = w.model_manager
    assert mgr is not None
    mgr.resize(1000, 500)
    wait(lambda: bool(mgr.models), 60, "the model list")
    mgr.select(next(m.id for m in mgr.models if m.source == "catalog"))
    settle()
    mgr.grab().save(str(ART / "models.png"))
    mgr.close()
    w.show_about()
    wait(lambda: w.about_dialog is not None and w.about_dialog.isVisible(), 30, "the About dialog")
    settle()
    assert w.about_dialog is not None
    w.about_dialog.grab().save(str(ART / "about.png"))
    w.about_dialog.close()
    print("saved:", ", ".join(str(p) for p in sorted(ART.glob("*.png"))))
    w.close()
    app.quit()
    return 0


def grounded(w: Any, services: Any) -> None:
    """An answer with an unsupported sentence and an abstention with suggestions, in a new chat."""
    from desktop.services import AnswerResult, SentenceView, citation_from

    engine = services._engine
    solar = next(h for h in engine.search("first silicon solar cell Bell Labs", top_k=5) if "solar" in h.source)
    tea = next(h for h in engine.search("green tea Camellia sinensis", top_k=5) if "tea" in h.source)
    w.new_conversation()
    docs = {d.source: d for d in w.library.model.documents()}
    solar_doc = next(d for s, d in docs.items() if s.endswith("solar-power.md"))
    w.chat.set_scope([(solar_doc.id, solar_doc.title)])
    w.chat.add_user("Who built the first practical silicon solar cell, and what powered it?")
    text = ("The first practical silicon solar cell was built at Bell Labs in 1954 by Daryl Chapin, Calvin Fuller "
            "and Gerald Pearson [1]. It was powered by a small steam engine.")
    cut = text.index("It was")
    a = w.chat.add_answer()
    a.set_scope([solar_doc.title])
    a.finish(AnswerResult(text, [citation_from(solar, 1)], "local", sentences=[
        SentenceView(text[:cut].strip(), 0, cut - 1, (1,), True),
        SentenceView(text[cut:], cut, len(text), (), False)], model="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M)"))
    w.chat.clear_scope()
    w.chat.add_user("How much caffeine is in a cup of green tea?")
    b = w.chat.add_answer()
    b.finish(AnswerResult("I couldn't find this in your documents.", [], "local", abstained=True,
                          suggestions=[citation_from(tea, 0), citation_from(solar, 0)]))
    w.chat.current = None
    b.suggestions_label.linkActivated.emit("suggest:0")
    w.chat.set_scope([(solar_doc.id, solar_doc.title)])
    settle(1.0)
    w.chat._follow = False  # show the first answer from its top
    w.chat.scroll_area.verticalScrollBar().setValue(0)
    settle(0.3)
    w.grab().save(str(ART / "grounded.png"))


def dark_palette() -> Any:
    """A dark desktop's palette (Breeze Dark's roles, roughly), for a session without a platform theme."""
    from PySide6.QtGui import QColor, QPalette

    pal = QPalette()
    roles = QPalette.ColorRole
    for role, colour in ((roles.Window, "#2a2e32"), (roles.WindowText, "#fcfcfc"), (roles.Base, "#1b1e20"),
                         (roles.AlternateBase, "#232629"), (roles.Text, "#fcfcfc"), (roles.Button, "#31363b"),
                         (roles.ButtonText, "#fcfcfc"), (roles.Highlight, "#3daee9"), (roles.HighlightedText, "#fcfcfc"),
                         (roles.Link, "#1d99f3"), (roles.LinkVisited, "#9b59b6"), (roles.ToolTipBase, "#31363b"),
                         (roles.ToolTipText, "#fcfcfc"), (roles.PlaceholderText, "#a1a9b1"), (roles.BrightText, "#ffffff"),
                         (roles.Light, "#40464c"), (roles.Midlight, "#383d42"), (roles.Mid, "#25292c"),
                         (roles.Dark, "#1b1e20"), (roles.Shadow, "#111314")):
        pal.setColor(role, QColor(colour))
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6e7378"))
    return pal


def region(widget: Any, window: Any) -> list[int]:
    """A widget's rectangle in a grab of ``window``, in image pixels (device pixels)."""
    from PySide6.QtCore import QPoint

    top_left = widget.mapTo(window, QPoint(0, 0))
    ratio = window.devicePixelRatioF()
    return [round(v * ratio) for v in (top_left.x(), top_left.y(), widget.width(), widget.height())]


def review(out: Path, dark: bool) -> int:
    """The window (library, an answer with its sources, the source viewer) and the settings
    dialog, saved for review at whatever scale QT_SCALE_FACTOR sets, in light or dark."""
    import json

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication

    tmp = Path(tempfile.mkdtemp(prefix="footnote-review-"))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp / "qsettings"))
    from core.settings import Settings
    from desktop.app import make_app
    from desktop.services import AnswerResult, Services, citation_from
    from ui.main_window import MainWindow
    from ui.settings_dialog import SettingsDialog

    app = make_app()
    QGuiApplication.styleHints().setColorScheme(Qt.ColorScheme.Dark if dark else Qt.ColorScheme.Light)
    if dark and QGuiApplication.styleHints().colorScheme() != Qt.ColorScheme.Dark:
        app.setPalette(dark_palette())  # no platform theme here (Xvfb): the palette a dark desktop hands Qt
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):
        old.unlink()
    data = tmp / "data"
    Settings(top_k=3).save(data)
    docs = tmp / "docs"
    docs.mkdir()
    (docs / "solar-power.md").write_text(
        "# Solar power\n\nSolar panels convert sunlight into electricity using photovoltaic cells. The first "
        "practical silicon solar cell was built at Bell Labs in 1954 by Daryl Chapin, Calvin Fuller and Gerald "
        "Pearson.\n", encoding="utf-8")
    (docs / "green-tea.md").write_text(
        "# Green tea\n\nGreen tea is made from the leaves of Camellia sinensis that have not been withered or "
        "oxidised. It originated in China.\n", encoding="utf-8")
    services = Services(data)
    w = MainWindow(services)
    w.resize(1100, 700)
    w.show()
    w.start()
    wait(lambda: services.state == "ready", 120, "the engine")
    w.import_paths([str(docs)])
    wait(lambda: len(w.library.model.documents()) == 2 and not services.jobs
         and all(d.status == "ready" for d in w.library.model.documents()), 120, "the import")
    solar = next(h for h in services._engine.search("first silicon solar cell", top_k=5) if "solar" in h.source)
    question = "Who built the first practical silicon solar cell?"
    w.chat.add_user(question)
    text = ("The first practical silicon solar cell was built at Bell Labs in 1954 by Daryl Chapin, Calvin "
            "Fuller and Gerald Pearson [1].")
    answer = w.chat.add_answer()
    answer.finish(AnswerResult(text, [citation_from(solar, 1)], "local", model="Qwen2.5-Coder-1.5B-Instruct"))
    w.chat.current = None
    answer.sources.linkActivated.emit("cite:1")
    settle(1.0)
    w.grab().save(str(out / "main.png"))
    regions: dict[str, dict[str, list[int]]] = {"main.png": {
        "window": region(w, w), "chat_title": region(w.chat.title, w), "answer_text": region(answer.label, w),
        "question_box": region(w.chat.input, w), "library": region(w.library.view, w),
        "send_button": region(w.chat.send_button, w), "source_text": region(w.viewer.text, w)}}
    dlg = SettingsDialog(services, w)
    dlg.show()
    settle(0.6)
    dlg.grab().save(str(out / "settings.png"))
    labels = [lb for lb in dlg.findChildren(type(w.chat.title)) if lb.isVisible() and lb.text().strip()
              and not lb.wordWrap()]
    regions["settings.png"] = {"window": region(dlg, dlg), "first_label": region(labels[0], dlg)}
    dlg.close()
    (out / "regions.json").write_text(json.dumps({"dark": dark, "scale": w.devicePixelRatioF(),
                                                  "regions": regions}, indent=1), encoding="utf-8")
    print("saved:", ", ".join(str(p) for p in sorted(out.glob("*.png"))))
    w.close()
    services.shutdown(10.0)
    app.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
