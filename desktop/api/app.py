"""The FastAPI application: routes, bearer auth, limits and OpenAI-style JSON errors.

Engine calls never run on the event loop: plain ``def`` routes run in the server's thread pool,
answers in their own bounded pool, imports on the import queue's thread (``jobs.py``). In the
window none of them is the GUI thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError, field_validator
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException

from core.answer.types import Answer, AnswerEvent
from core.documents import Document, display_title
from core.errors import FootnoteError, LibraryLockedError
from core.events import IngestEvent
from desktop.api import chat
from desktop.api.jobs import ImportJobs
from desktop.api.limits import AnswerSlots, BodyLimit, RateLimiter, retry_after

if TYPE_CHECKING:
    from core.engine import Engine

log = logging.getLogger(__name__)

UPLOADS_DIR = "uploads"
UPLOAD_PATH = "/v1/documents"


class EngineHost(Protocol):
    """Where the API gets the engine of this process: ``footnote serve`` opened it itself; the
    window's ``Services`` waits for its own to open."""

    def engine(self) -> Engine: ...

    def library_changed(self) -> None: ...


@dataclass
class ApiConfig:
    host: str = "127.0.0.1"
    port: int = 5151
    max_upload_bytes: int = 200 * 1024 * 1024
    max_json_bytes: int = 1024 * 1024
    max_files: int = 20
    rate_per_second: float = 10.0
    rate_burst: int = 60
    answers_running: int = 1
    answers_waiting: int = 4
    max_crawl_depth: int = 3
    max_pages: int = 200


# -- errors ------------------------------------------------------------------------------------

_TYPES = {400: "invalid_request_error", 401: "authentication_error", 404: "not_found_error",
          413: "request_too_large", 415: "invalid_request_error", 429: "rate_limit_error",
          503: "server_busy"}


class ApiError(HTTPException):
    def __init__(self, status: int, message: str, kind: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.kind = kind or _TYPES.get(status, "server_error")


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def error_response(status: int, message: str, kind: str | None = None,
                   headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(message, kind or _TYPES.get(status, "server_error")), status, headers=headers)


def _validation_message(errors: list[Any]) -> str:
    parts = []
    for e in errors[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "invalid request: " + "; ".join(parts)


class CatchAll:
    """The last resort: an unexpected exception is one JSON line naming its type, never a
    traceback to the client; the traceback goes to the log (where secrets are redacted)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message.get("type") == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.error("api unexpected error path=%s error=%s", scope.get("path"), type(exc).__name__, exc_info=exc)
            if not started:
                resp = error_response(500, f"unexpected error ({type(exc).__name__}); details are in the log")
                await resp(scope, receive, send)


# -- request bodies ----------------------------------------------------------------------------


class ImportUrl(BaseModel):
    url: str = Field(description="an http or https link")
    crawl_depth: int = Field(default=0, ge=0, description="follow same-site links this deep")
    max_pages: int = Field(default=20, ge=1, description="stop a crawl after this many pages")

    @field_validator("url")
    @classmethod
    def _http(cls, v: str) -> str:
        v = v.strip()
        if not v.lower().startswith(("http://", "https://")):
            raise ValueError("only http and https links can be imported")
        return v


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    top_k: int | None = Field(default=None, ge=1, le=50)
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    document_ids: list[str] | None = None


def document_json(d: Document) -> dict[str, Any]:
    return {"id": d.id, "object": "document", "source": d.source, "title": display_title(d.title, d.source),
            "kind": d.kind, "status": d.status, "chunks": d.chunks, "error": d.error or None,
            "added_at": int(d.added_at) if d.added_at else None}


def safe_name(name: str) -> str:
    """A file name that stays inside the uploads folder and shows as itself."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C")
    base = base.strip().lstrip(".").strip()
    if len(base) > 180:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 180 - len(ext) - 1] + dot + ext) if dot and len(ext) <= 16 else base[:180]
    return base or "upload"


def save_upload(folder: Path, upload: UploadFile) -> Path:
    """Write an uploaded file into the uploads folder (atomically: a half-written file never
    carries the real name). The same name again replaces the file, so it re-imports as one document."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_name(upload.filename or "")
    partial = folder / f".{target.name}.{uuid.uuid4().hex[:8]}.partial"
    try:
        upload.file.seek(0)
        with partial.open("wb") as out:
            while block := upload.file.read(1 << 20):
                out.write(block)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise FootnoteError(f"{target.name}: the upload could not be saved ({exc.strerror or exc})") from None
    return target


# -- the application ---------------------------------------------------------------------------


class ApiState:
    def __init__(self, host: EngineHost, token: Callable[[], str], config: ApiConfig) -> None:
        self.host = host
        self.token = token
        self.config = config
        self.limiter = RateLimiter(config.rate_per_second, config.rate_burst)
        self.slots = AnswerSlots(config.answers_running, config.answers_waiting)
        self.answer_pool = ThreadPoolExecutor(max_workers=max(1, config.answers_running),
                                              thread_name_prefix="footnote-api-answer")
        self.active: set[threading.Event] = set()
        self.jobs = ImportJobs(self._ingest, host.library_changed)

    def _ingest(self, sources: list[str], depth: int, pages: int, cancel: threading.Event) -> Iterator[IngestEvent]:
        return self.host.engine().ingest(sources, crawl_depth=depth, max_pages=pages, cancel=cancel)

    def close(self) -> None:
        for ev in list(self.active):
            ev.set()
        self.jobs.close()
        self.answer_pool.shutdown(wait=False, cancel_futures=True)


def create_app(host: EngineHost, token: Callable[[], str], config: ApiConfig | None = None) -> FastAPI:
    """The API over ``host``'s engine; ``token`` returns the token to accept now (it may change
    while the server runs, when the user regenerates it)."""
    config = config or ApiConfig()
    state = ApiState(host, token, config)
    app = FastAPI(
        title="Footnote local API",
        version="1",
        description=("Answers from your Footnote library, with citations, through an OpenAI-compatible "
                     "chat endpoint; document import and search. Every /v1 call needs "
                     "`Authorization: Bearer <token>` (the token is in Footnote's settings, or "
                     "`footnote serve --print-token`)."),
    )
    app.state.footnote = state
    bearer = HTTPBearer(auto_error=False, description="the API token from Footnote's settings")

    def authorize(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> str:  # noqa: B008
        expected = state.token()
        given = creds.credentials.strip() if creds is not None else ""
        if not given or not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            raise ApiError(401, "missing or wrong API token: send 'Authorization: Bearer <token>' with the token "
                                "from Footnote's settings (or `footnote serve --print-token`)",
                           headers={"WWW-Authenticate": "Bearer"})
        who = hashlib.sha256(given.encode("utf-8")).hexdigest()[:16]
        wait = state.limiter.take(who)
        if wait > 0:
            after = retry_after(wait)
            raise ApiError(429, f"too many requests: try again in {after} s", headers={"Retry-After": after})
        return who

    auth = [Depends(authorize)]

    # -- errors --------------------------------------------------------------------------------

    @app.exception_handler(HTTPException)
    async def _http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        kind = getattr(exc, "kind", None)
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint; see /docs"
        if exc.status_code == 405:
            message = "this method is not allowed here; see /docs"
        return error_response(exc.status_code, message, kind, headers=dict(exc.headers or {}))

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_message(list(exc.errors())))

    @app.exception_handler(LibraryLockedError)
    async def _locked(_request: Request, exc: LibraryLockedError) -> JSONResponse:
        return error_response(503, str(exc), "library_unavailable")

    @app.exception_handler(FootnoteError)
    async def _footnote(_request: Request, exc: FootnoteError) -> JSONResponse:
        return error_response(500, str(exc), "library_error")

    def limit_for(path: str) -> int:
        return config.max_upload_bytes if path.rstrip("/") == UPLOAD_PATH else config.max_json_bytes

    def too_large(limit: int) -> Any:
        return error_response(413, f"the request body is larger than the limit of {limit} bytes")

    app.add_middleware(BodyLimit, limit_for=limit_for, too_large=too_large)
    app.add_middleware(CatchAll)

    # -- routes --------------------------------------------------------------------------------

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models", dependencies=auth, tags=["chat"])
    def models() -> dict[str, Any]:
        """`footnote` answers with the backend chosen in the settings; the others force one."""
        return {"object": "list", "data": [
            {"id": name, "object": "model", "created": 0, "owned_by": "footnote",
             "backend": backend or "settings"} for name, backend in chat.MODELS.items()]}

    @app.post("/v1/chat/completions", dependencies=auth, tags=["chat"], response_model=None)
    async def chat_completions(req: chat.ChatRequest) -> JSONResponse | StreamingResponse:
        """An answer from the library, grounded and cited as in the window. Beside OpenAI's fields
        the answer carries `citations`, `abstained` and `unsupported` (the sentences no passage
        supports); when streaming, the last chunk carries them, with `answer`, the final text."""
        if req.model not in chat.MODELS:
            raise ApiError(404, f"{req.model}: no such model; GET /v1/models lists them", "not_found_error")
        question = chat.question_of(req).strip()
        if not question:
            raise ApiError(400, "messages: no user message with text to answer")
        if not state.slots.try_acquire():
            raise ApiError(503, "busy: too many questions are waiting; try again shortly",
                           headers={"Retry-After": "2"})
        kwargs: dict[str, Any] = {"backend": chat.MODELS[req.model], "top_k": req.top_k,
                                  "conversation_id": req.conversation_id}
        if req.document_ids:
            kwargs["document_ids"] = list(req.document_ids)
        cancel = threading.Event()
        state.active.add(cancel)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[AnswerEvent | BaseException | None] = asyncio.Queue()

        def put(item: AnswerEvent | BaseException | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            try:
                if cancel.is_set():
                    return
                engine = host.engine()
                if req.conversation_id is not None:
                    engine.answerer.conversations.get(req.conversation_id)  # a clear error first
                for ev in engine.ask(question, cancel=cancel, **kwargs):
                    put(ev)
            except BaseException as exc:  # noqa: BLE001 - handed to the request, which answers it
                put(exc)
            finally:
                state.slots.release()
                state.active.discard(cancel)
                put(None)

        try:
            loop.run_in_executor(state.answer_pool, produce)
        except RuntimeError:  # the pool is closed: the server is stopping
            state.slots.release()
            state.active.discard(cancel)
            raise ApiError(503, "the server is stopping") from None
        cid = chat.new_id()
        if req.stream:
            return StreamingResponse(_sse(queue, cancel, cid, req.model), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        try:
            answer: Answer | None = None
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise _as_api_error(item)
                if item.kind == "error":
                    raise ApiError(500, item.text, "answer_error")
                if item.kind == "done":
                    answer = item.answer
        except asyncio.CancelledError:
            cancel.set()
            raise
        if answer is None:
            raise ApiError(500, "the answer ended without a result", "answer_error")
        return JSONResponse(chat.completion(cid, req.model, answer))

    @app.post("/v1/search", dependencies=auth, tags=["library"])
    def search(req: SearchRequest) -> dict[str, Any]:
        """The passages that best match a query (the search the answers use)."""
        hits = host.engine().search(req.query, top_k=req.top_k, mode=req.mode, document_ids=req.document_ids)
        return {"object": "list", "query": req.query, "data": [
            {"rank": i, "score": round(h.score, 6), "chunk_id": h.point_id, "document_id": h.document_id,
             "source": h.source, "title": display_title(h.title, h.source), "section": h.section, "page": h.page,
             "text": h.text} for i, h in enumerate(hits, start=1)]}

    @app.get("/v1/documents", dependencies=auth, tags=["library"])
    def list_documents() -> dict[str, Any]:
        return {"object": "list", "data": [document_json(d) for d in host.engine().documents()]}

    @app.delete("/v1/documents/{document_id}", dependencies=auth, tags=["library"])
    def delete_document(document_id: str) -> dict[str, Any]:
        """Remove a document and its passages; a file uploaded through the API is deleted too."""
        engine = host.engine()
        doc = next((d for d in engine.documents() if d.id == document_id), None)
        if doc is None:
            raise ApiError(404, f"{document_id}: no such document in the library")
        engine.remove(doc.id)
        uploads = (engine.data_dir / UPLOADS_DIR).resolve()
        path = Path(doc.source)
        if path.is_absolute() and path.parent == uploads:
            path.unlink(missing_ok=True)
        host.library_changed()
        return {**document_json(doc), "deleted": True}

    @app.post(UPLOAD_PATH, dependencies=auth, tags=["library"], status_code=202, openapi_extra={
        "requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "array", "items": {"type": "string", "format": "binary"},
                         "description": "one or more files (PDF, Word, HTML, Markdown, text…)"}}}},
            "application/json": {"schema": ImportUrl.model_json_schema()},
        }}})
    async def import_documents(request: Request) -> JSONResponse:
        """Import files (a multipart upload, saved into the library's uploads folder) or a web page
        (`{"url": …, "crawl_depth": …}`). Answers 202 with a job; poll `GET /v1/jobs/{id}`."""
        ctype = request.headers.get("content-type", "").lower()
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=config.max_files, max_fields=config.max_files + 10)
            try:
                files = [v for _k, v in form.multi_items() if isinstance(v, UploadFile)]
                if not files:
                    raise ApiError(400, "the upload holds no file: send it as the form field 'file'")
                engine = await run_in_threadpool(host.engine)
                folder = engine.data_dir / UPLOADS_DIR
                saved = [await run_in_threadpool(save_upload, folder, f) for f in files]
            finally:
                await form.close()
            job = state.jobs.submit([str(p) for p in saved])
        elif ctype.startswith("application/json"):
            try:
                body = ImportUrl.model_validate(await request.json())
            except ValueError as exc:  # a JSON decode error or a ValidationError
                errors = exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": "not valid JSON"}]
                raise ApiError(400, _validation_message(list(errors))) from None
            if body.crawl_depth > config.max_crawl_depth:
                raise ApiError(400, f"crawl_depth: at most {config.max_crawl_depth}")
            job = state.jobs.submit([body.url], body.crawl_depth, min(body.max_pages, config.max_pages))
        else:
            raise ApiError(415, "send files as multipart/form-data or a link as JSON {\"url\": …}")
        return JSONResponse(job.as_json(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})

    @app.get("/v1/jobs", dependencies=auth, tags=["library"])
    def list_jobs() -> dict[str, Any]:
        return {"object": "list", "data": [j.as_json() for j in state.jobs.list()]}

    @app.get("/v1/jobs/{job_id}", dependencies=auth, tags=["library"])
    def get_job(job_id: str) -> dict[str, Any]:
        """An import's progress: per item, reading → embedding → done (or unchanged, skipped, failed)."""
        job = state.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"{job_id}: no such import job")
        return job.as_json()

    @app.delete("/v1/jobs/{job_id}", dependencies=auth, tags=["library"])
    def cancel_job(job_id: str) -> dict[str, Any]:
        """Cancel an import; documents already imported stay."""
        job = state.jobs.get(job_id)
        if job is None:
            raise ApiError(404, f"{job_id}: no such import job")
        job.cancel.set()
        return job.as_json()

    return app


def _as_api_error(exc: BaseException) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, LibraryLockedError):
        return ApiError(503, str(exc), "library_unavailable")
    if isinstance(exc, FootnoteError):
        return ApiError(500, str(exc), "answer_error")
    log.error("api answer failed error=%s", type(exc).__name__, exc_info=exc)
    return ApiError(500, f"unexpected error while answering ({type(exc).__name__}); details are in the log")


def _sse_line(obj: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode()


async def _sse(queue: asyncio.Queue[AnswerEvent | BaseException | None], cancel: threading.Event, cid: str,
               model: str) -> AsyncIterator[bytes]:
    """OpenAI's stream: a role chunk, a chunk per token, a last chunk with the finish reason and
    Footnote's fields, then ``[DONE]``. A failure after the headers is an ``error`` event."""
    created = int(time.time())
    ended = False
    try:
        yield _sse_line(chat.chunk(cid, model, created, {"role": "assistant", "content": ""}))
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                err = _as_api_error(item)
                yield _sse_line(error_body(str(err.detail), err.kind))
                break
            if item.kind == "token" and item.text:
                yield _sse_line(chat.chunk(cid, model, created, {"content": item.text}))
            elif item.kind == "error":
                yield _sse_line(error_body(item.text, "answer_error"))
                break
            elif item.kind == "done" and item.answer is not None:
                ans = item.answer
                yield _sse_line(chat.chunk(cid, model, created, {}, chat.finish_reason(ans), answer=ans.answer,
                                           **chat.extras(ans)))
        yield b"data: [DONE]\n\n"
        ended = True
    finally:
        if not ended:  # the client went away: stop the answer within a token
            cancel.set()
