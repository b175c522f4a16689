"""The answer and download jobs on their own, without a window or a model: what each engine event
becomes, in order, and how a stored answer comes back."""

from __future__ import annotations

import threading
from typing import Any

from core.answer import AnswerEvent
from core.conversations import Citation, Message
from core.model_download import DownloadProgress
from core.retrieval import SearchHit
from desktop.services import AnswerJob, AnswerResult, ModelJob, result_from_message
from tests.ui.scripted import answer, sentences

HIT = SearchHit("p1", "d1", "/docs/tea.md", "Green tea", "Green tea", None, "Green tea is made from leaves.", 1.0)
CITE = Citation(1, "p1", "d1", "/docs/tea.md", "Green tea", "Green tea", None, "Green tea is made from leaves.")


def record(job: Any, names: list[str]) -> list[tuple[str, Any]]:
    seen: list[tuple[str, Any]] = []
    for name in names:
        getattr(job, name).connect(lambda *args, n=name: seen.append((n, args[0] if args else None)))
    return seen


def test_answer_events_in_order_and_the_done_answer_wins(qtbot) -> None:
    job = AnswerJob("q", None, document_ids=["d1"])
    seen = record(job, ["retrieved", "status", "token", "done", "finished"])
    text = "Green tea is made from leaves [1]. It cures colds."
    final = answer("q", text, citations=[CITE], scope=["d1"], sentences=sentences(
        text, ("Green tea is made from leaves [1].", [1], True), ("It cures colds.", [], False)))
    for ev in (AnswerEvent("retrieved", chunks=(HIT,)), AnswerEvent("status", "a summary is on its way…"),
               AnswerEvent("token", "Green tea [2] is"), AnswerEvent("done", answer=final),
               AnswerEvent("token", "late")):
        job._on_event(ev)
    assert [n for n, _ in seen] == ["retrieved", "status", "token", "done", "finished"]
    result: AnswerResult = seen[3][1]
    assert result.text == text and job.text == text, "the streamed text is replaced by the final one"
    assert [c.n for c in result.citations] == [1] and result.scope == ["d1"]
    assert result.unsupported == ["It cures colds."] and result.sentences[1].citations == ()
    assert result.model == "Scripted model" and result.stop_reason is None


def test_stop_ends_at_once_with_the_user_as_reason(qtbot) -> None:
    job = AnswerJob("q", None)
    seen = record(job, ["done"])
    job._on_event(AnswerEvent("token", "Half"))
    job.stop()
    result = seen[0][1]
    assert result.stopped and result.stop_reason == "user" and result.text == "Half"


def test_a_stored_answer_keeps_its_unsupported_sentences_and_suggestions() -> None:
    msg = Message(1, "c", "assistant", "Tea is green [1]. It cures colds.", 0.0, "local", False, [CITE],
                  {"unsupported": ["It cures colds."], "stop_reason": "repetition"})
    result = result_from_message(msg)
    assert result.unsupported == ["It cures colds."] and result.sentences[0].start == 18
    assert result.stop_reason == "repetition" and result.stopped
    abstained = Message(2, "c", "assistant", "I couldn't find this in your documents.", 0.0, "none", True, [],
                        {"suggestions": [CITE.as_dict()]})
    again = result_from_message(abstained)
    assert again.abstained and [s.title for s in again.suggestions] == ["Green tea"]
    assert again.suggestions[0].n == 0, "a suggestion is not a numbered citation"


def test_download_progress_is_throttled_but_the_last_block_always_arrives(qtbot) -> None:
    job = ModelJob("m", "Model")
    views: list[Any] = []
    job.progress.connect(views.append)

    def feed() -> None:  # the download thread
        for done in range(0, 1001, 10):
            job._on_progress(DownloadProgress(done, 1000, 1e6, 0.5))

    t = threading.Thread(target=feed)
    t.start()
    t.join()
    qtbot.waitUntil(lambda: bool(views) and views[-1].done_bytes == 1000, timeout=5_000)
    assert len(views) < 20, "not one repaint per block"
    assert job.last is not None and job.last.done_bytes == 1000
    assert "1 KB of 1 KB" in views[-1].text() and "/s" in views[-1].text()
