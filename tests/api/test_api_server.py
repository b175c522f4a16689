"""The local API end to end: the real server on a free port, the official openai client for chat,
httpx for the rest; a real engine (FastEmbed, Qdrant local mode, the small GGUF)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.engine import Engine
from desktop.api import OpenedEngine
from tests.api.conftest import TOKEN, UPLOAD_LIMIT, Served, make_upload_pdf, wait_job


def error_of(resp: httpx.Response) -> dict[str, Any]:
    body = resp.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"] and body["error"]["type"]
    assert "Traceback" not in resp.text
    err: dict[str, Any] = body["error"]
    return err


# -- access --------------------------------------------------------------------------------------


def test_every_call_needs_the_token_but_the_docs_do_not(api: Served) -> None:
    with api.client(token=None) as anon, api.client(token="fn-wrong-token") as wrong, api.client() as ok:
        for c in (anon, wrong):
            for method, path in (("GET", "/v1/models"), ("GET", "/v1/documents"), ("POST", "/v1/search"),
                                 ("POST", "/v1/chat/completions"), ("GET", "/v1/jobs/x")):
                r = c.request(method, path, json={"query": "x"})
                assert r.status_code == 401, (method, path, r.text)
                assert error_of(r)["type"] == "authentication_error"
                assert r.headers["www-authenticate"] == "Bearer"
        assert ok.get("/v1/models").status_code == 200
        assert anon.get("/docs").status_code == 200
        schema = anon.get("/openapi.json").json()
        assert {"/v1/chat/completions", "/v1/documents", "/v1/search", "/v1/jobs/{job_id}"} <= set(schema["paths"])


def test_a_burst_gets_429_with_retry_after(engine: Engine, make_api: Any) -> None:
    small = make_api(OpenedEngine(engine), rate_burst=3, rate_per_second=0.01)
    with small.client() as c:
        codes = [c.get("/v1/models") for _ in range(8)]
    assert [r.status_code for r in codes[:3]] == [200, 200, 200]
    limited = [r for r in codes if r.status_code == 429]
    assert len(limited) == 5
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
    assert error_of(limited[0])["type"] == "rate_limit_error"


def test_an_oversized_upload_is_413_and_not_saved(api: Served, engine: Engine) -> None:
    big = b"x" * (UPLOAD_LIMIT + 1)
    with api.client() as c:
        r = c.post("/v1/documents", files={"file": ("big.txt", big, "text/plain")})
        assert r.status_code == 413 and error_of(r)["type"] == "request_too_large"

        # The same without a Content-Length (a chunked body): cut off once it passes the limit.
        def chunks() -> Any:
            yield b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big2.txt\"\r\n\r\n"
            for _ in range(UPLOAD_LIMIT // 10_000 + 2):
                yield b"y" * 10_000
            yield b"\r\n--b--\r\n"

        r = c.post("/v1/documents", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=b"})
        assert r.status_code == 413, r.text
        r = c.post("/v1/search", json={"query": "q" * 3000, "pad": "z" * (1024 * 1024)})
        assert r.status_code == 413
    uploads = engine.data_dir / "uploads"
    assert not (uploads / "big.txt").exists() and not (uploads / "big2.txt").exists()


def test_errors_are_openai_shaped_json(api: Served) -> None:
    with api.client() as c:
        r = c.post("/v1/chat/completions", json={"model": "gpt-nothing", "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 404 and "gpt-nothing" in error_of(r)["message"]
        r = c.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "be brief"}]})
        assert r.status_code == 400 and "user message" in error_of(r)["message"]
        r = c.post("/v1/chat/completions", json={"messages": []})
        assert r.status_code == 400 and "messages" in error_of(r)["message"]
        r = c.post("/v1/search", content=b"{not json", headers={"Content-Type": "application/json"})
        assert r.status_code == 400 and error_of(r)["type"] == "invalid_request_error"
        r = c.post("/v1/documents", json={"url": "file:///etc/passwd"})
        assert r.status_code == 400 and "http" in error_of(r)["message"]
        r = c.post("/v1/documents", content=b"raw", headers={"Content-Type": "text/plain"})
        assert r.status_code == 415
        assert c.get("/v1/jobs/job-nope").status_code == 404
        r = c.delete("/v1/documents/0000000000000000")
        assert r.status_code == 404 and "0000000000000000" in error_of(r)["message"]
        assert error_of(c.get("/v1/nothing-here"))["type"] == "not_found_error"


# -- import, search, answer --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uploaded(api: Served, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    pdf = make_upload_pdf(tmp_path_factory.mktemp("upload"))
    with api.client() as c:
        r = c.post("/v1/documents", files={"file": (pdf.name, pdf.read_bytes(), "application/pdf")})
        assert r.status_code == 202, r.text
        assert r.headers["location"] == f"/v1/jobs/{r.json()['id']}"
        job = wait_job(c, r.json()["id"])
    return job


def test_an_uploaded_pdf_is_imported_and_listed(api: Served, engine: Engine, uploaded: dict[str, Any]) -> None:
    assert uploaded["status"] == "done", uploaded
    (item,) = uploaded["items"]
    assert item["status"] == "done" and item["chunks_done"] == item["chunks_total"] >= 1
    assert Path(item["source"]) == engine.data_dir / "uploads" / "lighthouse.pdf"
    with api.client() as c:
        docs = c.get("/v1/documents").json()["data"]
        hits = c.post("/v1/search", json={"query": "Zorblat lighthouse Kestrel Island", "top_k": 3}).json()["data"]
    assert any(d["id"] == uploaded["documents"][0] and d["status"] == "ready" for d in docs)
    assert hits and hits[0]["document_id"] == uploaded["documents"][0] and hits[0]["page"] == 1
    assert "Mara Voss" in hits[0]["text"]


def test_chat_answers_from_the_upload_with_a_citation(api: Served, uploaded: dict[str, Any]) -> None:
    from openai import OpenAI

    doc_id = uploaded["documents"][0]
    client = OpenAI(base_url=api.url + "/v1", api_key=TOKEN, max_retries=0, timeout=300)
    assert "footnote" in [m.id for m in client.models.list()]
    question = "When was the Zorblat lighthouse on Kestrel Island built?"
    done = client.chat.completions.create(model="footnote", messages=[{"role": "user", "content": question}])
    extra = done.model_extra or {}
    assert done.choices[0].message.content and extra["abstained"] is False
    assert [c["document_id"] for c in extra["citations"]] and {c["document_id"] for c in extra["citations"]} == {doc_id}
    assert extra["citations"][0]["page"] == 1 and isinstance(extra["unsupported"], list)

    # Streaming: tokens as deltas, Footnote's fields on the last chunk.
    chunks = list(client.chat.completions.create(
        model="footnote-local", messages=[{"role": "user", "content": "When was the Zorblat lighthouse built?"}], stream=True))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    last = chunks[-1]
    assert text.strip() and last.choices[0].finish_reason in ("stop", "length")
    last_extra = last.model_extra or {}
    assert last_extra["abstained"] is False and {c["document_id"] for c in last_extra["citations"]} == {doc_id}
    assert last_extra["answer"]


def test_a_question_the_library_cannot_answer_abstains(api: Served, uploaded: dict[str, Any]) -> None:
    with api.client() as c:
        r = c.post("/v1/chat/completions", json={"messages": [
            {"role": "user", "content": "What is the recommended torque for a bicycle crank bolt?"}]})
    body = r.json()
    assert r.status_code == 200 and body["abstained"] is True and body["citations"] == []
    assert body["choices"][0]["message"]["content"]


def test_url_import_then_delete(api: Served, http_server: Any) -> None:
    http_server.route("/", body="<html><head><title>Quokka notes</title></head><body><h1>Quokkas</h1>"
                               "<p>The quokka is a small marsupial found on Rottnest Island near Perth.</p></body></html>",
                      content_type="text/html")
    with api.client() as c:
        r = c.post("/v1/documents", json={"url": http_server.url("/"), "crawl_depth": 0})
        assert r.status_code == 202, r.text
        job = wait_job(c, r.json()["id"])
        assert job["status"] == "done", job
        (doc_id,) = job["documents"]
        assert c.post("/v1/search", json={"query": "quokka Rottnest"}).json()["data"][0]["document_id"] == doc_id
        r = c.delete(f"/v1/documents/{doc_id}")
        assert r.status_code == 200 and r.json()["deleted"] is True
        assert doc_id not in [d["id"] for d in c.get("/v1/documents").json()["data"]]
        assert all(h["document_id"] != doc_id for h in c.post("/v1/search", json={"query": "quokka"}).json()["data"])
        assert c.delete(f"/v1/documents/{doc_id}").status_code == 404


class GatedHost(OpenedEngine):
    """The real engine behind a gate: answers wait at the gate, so the queue can be seen full."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.gate = threading.Event()

    def engine(self) -> Any:
        self.gate.wait(120)
        return super().engine()


def test_a_full_answer_queue_is_503(engine: Engine, make_api: Any, uploaded: dict[str, Any]) -> None:
    host = GatedHost(engine)
    busy = make_api(host, answers_running=1, answers_waiting=0)
    ask = {"messages": [{"role": "user", "content": "Who built the Zorblat lighthouse?"}]}
    first: list[httpx.Response] = []
    with busy.client() as c:
        t = threading.Thread(target=lambda: first.append(c.post("/v1/chat/completions", json=ask)))
        t.start()
        slots = busy.app.state.footnote.slots
        waited = threading.Event()
        while slots.admitted < 1 and t.is_alive():
            waited.wait(0.02)
        with busy.client() as c2:
            r = c2.post("/v1/chat/completions", json=ask)
            assert r.status_code == 503 and int(r.headers["retry-after"]) >= 1
            assert error_of(r)["type"] == "server_busy"
            assert c2.get("/v1/models").status_code == 200  # the rest of the API still answers
        host.gate.set()
        t.join(300)
    assert first and first[0].status_code == 200, first
