"""Document-level requests with real parts: an 8-page PDF, FastEmbed + Qdrant, the bundled fast Qwen GGUF."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from core.answer.documents import is_document_request, target_documents
from core.documents import Document
from core.engine import Engine
from core.settings import Settings
from tests.core.fixtures import make_pdf

PAGES = [
    "The Harbour Authority handled 41 million tonnes of cargo in 2025, a record year.\n"
    "Container traffic grew by nine percent, mostly from new routes to West Africa.",
    "Four electric cranes were installed on the north quay in March.\n"
    "They replaced diesel cranes that were more than thirty years old.",
    "The authority dredged the main channel to a depth of sixteen metres.\n"
    "Larger ships can now enter the port at low tide.",
    "Staff numbers rose to 1,240 people.\nA new apprenticeship scheme trained 60 young technicians.",
    "Emissions from port operations fell by 18 percent compared with 2024.\n"
    "Shore power now lets docked ships switch off their engines.",
    "Revenue reached 212 million euros and the operating profit was 37 million euros.\n"
    "Most of the profit was invested in the new cruise terminal.",
    "The cruise terminal will open in 2027 and serve 300,000 passengers a year.\n"
    "Its roof carries the largest solar array in the region.",
    "The board expects cargo volumes to stay stable in 2026.\n"
    "Risks include lower trade with Asia and higher energy prices.",
]


def doc(title: str, source: str, doc_id: str = "") -> Document:
    return Document(doc_id or title, source, title, "pdf", "h", "ready")


def test_document_requests_are_recognised() -> None:
    for q in ("Summarize the harbour report", "What is this document about?", "List the main points of report.pdf",
              "Give me an overview of the annual report", "tl;dr"):
        assert is_document_request(q), q
    for q in ("When was the first solar cell built?", "Who summarized the findings in 1998?",
              "How deep is the main channel?"):
        assert not is_document_request(q), q


def test_the_named_document_is_the_target() -> None:
    docs = [doc("Harbour Authority annual report", "/d/harbour.pdf", "a"), doc("Green tea", "/d/tea.md", "b")]
    assert [d.id for d in target_documents("Summarize the harbour report", docs)] == ["a"]
    assert [d.id for d in target_documents("What is this about?", docs, scope=["b"])] == ["b"]
    assert target_documents("What is this about?", docs) == []  # two documents, none named, no search
    assert [d.id for d in target_documents("What is this about?", docs, search_top=lambda q: "b")] == ["b"]


@pytest.fixture
def harbour(tmp_path: Path) -> Iterator[tuple[Engine, str]]:
    from core.modelstore import fast_llm_path

    fast = fast_llm_path()
    assert fast is not None, "make setup assembles the bundled fast model"
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(docs / "harbour-annual-report.pdf", PAGES)
    (docs / "tea.md").write_text("# Green tea\n\nGreen tea originated in China.\n", encoding="utf-8")
    engine = Engine(tmp_path / "data", Settings(model_path=str(fast), temperature=0.0, n_ctx=2048))
    events = list(engine.ingest([str(docs)]))
    assert not [e for e in events if e.kind == "failed"]
    report = next(d for d in engine.documents() if d.source.endswith(".pdf"))
    yield engine, report.id
    engine.close()


@pytest.mark.slow
@pytest.mark.parametrize("n_ctx", [2048, 768], ids=["one-prompt", "map-reduce"])
def test_summary_of_an_eight_page_pdf_is_cited(harbour: tuple[Engine, str], n_ctx: int) -> None:
    engine, report_id = harbour
    engine.settings.n_ctx = n_ctx
    stream = engine.answerer.ask("Summarize the harbour annual report", use_cache=False)
    statuses = [ev.text for ev in stream if ev.kind == "status"]
    ans = stream.answer
    assert ans is not None and ans.mode == "summary" and not ans.abstained
    assert statuses and "summary is on its way" in statuses[0]
    if n_ctx == 768:
        assert any(s.startswith("Reading part") for s in statuses)  # read in parts, then reduced
    assert ans.citations, ans.answer
    assert {c.document_id for c in ans.citations} == {report_id}  # only the report, never the tea note
    assert {c.page for c in ans.citations} <= set(range(1, 9))
    supported = [s for s in ans.sentences if s.supported]
    assert supported and all(s.citations for s in supported if len(s.text.split()) > 3)
    # Every marker in the text names a returned citation.
    assert {n for s in ans.sentences for n in s.citations} == {c.n for c in ans.citations}


def test_summary_with_a_selected_document_reads_only_it(harbour: tuple[Engine, str]) -> None:
    engine, report_id = harbour
    tea = next(d for d in engine.documents() if d.id != report_id)
    ans = engine.answerer.ask("What is this about?", document_ids=[tea.id], use_cache=False).result()
    assert ans.mode == "summary" and ans.scope == [tea.id]
    assert all(c.document_id == tea.id for c in ans.citations)
