"""OpenAI's chat-completions shapes over Footnote's answers.

The answer is ``Engine.ask``'s, exactly as in the window: retrieval, the answerability check,
grounding, guardrails, the answer cache and the backend choice all live there. Only the last user
message is the question; a conversation's history comes from Footnote's own conversation store
(``conversation_id``), as in the window, not from the ``messages`` a client resends.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.answer.types import Answer
from core.conversations import Citation
from core.documents import display_title

MODEL_ID = "footnote"
#: ``model`` names: the settings' backend, or one backend for this request.
MODELS = {MODEL_ID: None, "footnote-local": "local", "footnote-auto": "auto", "footnote-openai": "openai"}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: str
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    """OpenAI's request; sampling fields (temperature, max_tokens, …) are accepted and ignored:
    the library's settings decide them, as in the window."""

    model_config = ConfigDict(extra="allow")

    model: str = MODEL_ID
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    document_ids: list[str] | None = Field(default=None, description="answer from these documents only")
    top_k: int | None = Field(default=None, ge=1, le=50, description="passages to retrieve")
    conversation_id: str | None = Field(default=None, description="continue this Footnote conversation")


def question_of(req: ChatRequest) -> str:
    """The last user message's text ('' when there is none)."""
    for msg in reversed(req.messages):
        if msg.role != "user":
            continue
        if isinstance(msg.content, str):
            return msg.content
        if isinstance(msg.content, list):
            return "\n".join(str(p.get("text", "")) for p in msg.content if p.get("type") == "text")
        return ""
    return ""


def citation_json(c: Citation) -> dict[str, Any]:
    return {"n": c.n, "chunk_id": c.chunk_id, "document_id": c.document_id, "source": c.source,
            "title": display_title(c.title, c.source), "section": c.section, "page": c.page, "text": c.text}


def extras(ans: Answer) -> dict[str, Any]:
    """Footnote's fields beside OpenAI's: what the window shows under an answer."""
    return {
        "citations": [citation_json(c) for c in ans.citations],
        "abstained": ans.abstained,
        "unsupported": ans.unsupported,
        "suggestions": [citation_json(c) for c in ans.suggestions] if ans.abstained else [],
        "stop_reason": ans.stop_reason,
        "backend": ans.backend,
        "conversation_id": ans.conversation_id,
    }


def finish_reason(ans: Answer) -> str:
    return "length" if ans.stop_reason == "length" else "stop"


def new_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def completion(cid: str, model: str, ans: Answer) -> dict[str, Any]:
    return {
        "id": cid, "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ans.answer},
                     "finish_reason": finish_reason(ans)}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        **extras(ans),
    }


def chunk(cid: str, model: str, created: int, delta: dict[str, Any], finish: str | None = None,
          **more: Any) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **more}
