"""Answers and passages are untrusted text: Markdown is drawn (never shown raw), and a document's
own HTML never runs or loads anything. The document is real and imported by the real engine; the
answer is scripted to echo its passage, as a model may."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QTextCharFormat, QTextCursor, QTextDocument

from core.answer import AnswerEvent
from desktop.services import Services
from tests.ui.conftest import open_window
from tests.ui.helpers import all_ready, drop
from tests.ui.scripted import ScriptedEngine, answer, cite
from ui.safe_text import SafeTextBrowser


def page(http_server) -> str:  # type: ignore[no-untyped-def]
    http_server.route("/pixel.png", body=b"\x89PNG\r\n\x1a\n", content_type="image/png")
    return (f"# Harbour notes\n\nThe harbour wall is **twelve metres** high and was built in *1890*.\n\n"
            f"<img src=\"{http_server.url('/pixel.png')}\"> <script>document.title='owned'</script>\n\n"
            f"- ferries leave at six\n- the lighthouse is white\n\n"
            f"![chart]({http_server.url('/pixel.png')}) See [the port site]({http_server.url('/pixel.png')}).\n")


@pytest.fixture
def hostile(qtbot, data_dir: Path, tmp_path: Path, http_server):  # type: ignore[no-untyped-def]
    doc = tmp_path / "harbour.md"
    doc.write_text(page(http_server), encoding="utf-8")

    def script(eng: ScriptedEngine, q: str, _kw: dict[str, Any]) -> Iterator[AnswerEvent]:
        hit = eng.hit("harbour wall twelve metres", "harbour.md")
        yield AnswerEvent("retrieved", chunks=(hit,))
        text = hit.text + " [1]"  # the model echoes the passage, HTML and all
        yield AnswerEvent("token", text)
        yield AnswerEvent("done", answer=answer(q, text, citations=[cite(1, hit)]))

    services = Services(data_dir, engine_factory=lambda d: ScriptedEngine(d, lambda: script))
    w = open_window(qtbot, services)
    drop(w, [doc])
    qtbot.waitUntil(lambda: all_ready(w, ["harbour.md"]), timeout=120_000)
    yield w
    w.close()
    assert services.shutdown(10.0)


def laid_out(html: str) -> QTextDocument:
    doc = QTextDocument()
    doc.setHtml(html)
    return doc


def fmt_at(doc: QTextDocument, text: str) -> QTextCharFormat:
    i = doc.toPlainText().index(text) + 1
    cur = QTextCursor(doc)
    cur.setPosition(i)
    cur.setPosition(i + 1, QTextCursor.MoveMode.KeepAnchor)
    return cur.charFormat()


def test_markdown_is_drawn_and_document_html_is_inert(qtbot, hostile, http_server) -> None:
    w = hostile
    w.chat.input.setPlainText("How high is the harbour wall?")
    with qtbot.waitSignal(w.answer_started, timeout=10_000) as started:
        qtbot.mouseClick(w.chat.send_button, Qt.MouseButton.LeftButton)
    job = started.args[0]
    if not job.is_finished:
        qtbot.waitSignal(job.finished, timeout=30_000).wait()
    widget = w.chat.answers[-1]
    qtbot.waitUntil(lambda: widget.finished and widget.label.isVisible(), timeout=30_000)
    html = widget.label.text()
    doc = laid_out(html)
    plain = doc.toPlainText()
    # Markdown drawn: bold and italic formats, bullets, no stars or hashes left.
    assert "**" not in plain and "# Harbour" not in plain and "*1890*" not in plain
    assert fmt_at(doc, "twelve metres").fontWeight() >= 600
    assert fmt_at(doc, "1890").fontItalic()
    assert "• ferries leave at six" in plain and "• the lighthouse is white" in plain
    # The document's HTML is text on screen, not tags: no image, no script, no link out.
    assert "<img" not in html and "<script" not in html and "&lt;script&gt;" in html
    assert "<script>document.title='owned'</script>" in plain
    assert "href='http" not in html and 'href="http' not in html
    assert "the port site" in plain and "![chart]" not in plain
    # The sources list's snippet is plain text too.
    sources = laid_out(widget.sources.text()).toPlainText()
    assert "**" not in sources and "<img" not in widget.sources.text()

    widget.sources.linkActivated.emit("cite:1")  # the passage in the source viewer
    qtbot.waitUntil(lambda: "twelve metres" in w.viewer.displayed_text(), timeout=30_000)
    assert "<img" not in w.viewer.text.toHtml().replace("&lt;img", "")
    assert w.windowTitle() == "Footnote"
    # Qt resolves an <img> while laying the text out, which has happened by now.
    assert http_server.hits("/pixel.png") == 0, "nothing a document says is fetched"


def test_the_text_browser_refuses_remote_and_local_resources(qtbot, tmp_path: Path, http_server) -> None:
    local = tmp_path / "secret.png"
    local.write_bytes(b"\x89PNG\r\n\x1a\n")
    http_server.route("/a.png", body=b"\x89PNG\r\n\x1a\n", content_type="image/png")
    view = SafeTextBrowser()
    qtbot.addWidget(view)
    view.setHtml(f"<p>x</p><img src='{http_server.url('/a.png')}'><img src='{QUrl.fromLocalFile(str(local)).toString()}'>")
    view.show()
    qtbot.waitExposed(view)
    assert view.loadResource(2, QUrl(http_server.url("/a.png"))) is None
    assert view.loadResource(2, QUrl.fromLocalFile(str(local))) is None
    assert any("secret.png" in r for r in view.refused)
    assert http_server.hits("/a.png") == 0
    assert not view.openExternalLinks() and not view.openLinks()
