"""An OpenAI-compatible server (``POST /chat/completions``, streamed as server-sent events)."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator

from core.answer.generator import ChatMessage, FirstTokenTimeout, GenerationError, RemoteError, StreamStats
from core.settings import Settings

log = logging.getLogger(__name__)



class _Secret:
    """Holds the key so that no repr, log line or traceback local can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__


def _safe_url(url: str) -> str:
    """The base URL for messages, without any ``user:password@`` part or query string."""
    url = re.sub(r"//[^/@]*@", "//", url)
    return url.split("?", 1)[0].rstrip("/")


class OpenAICompatible:
    """``POST {base_url}/chat/completions`` with ``stream: true``, parsed as server-sent events.

    The key travels only in the Authorization header. Error messages are built from the status
    code and the server's own error text (scrubbed of the key), never from httpx exception text,
    which can carry request details.
    """

    name = "openai"

    def __init__(
        self,
        settings: Settings,
        api_key: str | None = None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        key_lookup: Callable[[], str | None] | None = None,
    ) -> None:
        self.settings = settings
        self.base_url = settings.openai_base_url.rstrip("/")
        self.model = settings.openai_model
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._key: _Secret | None = _Secret(api_key) if api_key else None
        self._key_lookup = key_lookup

    def _api_key(self) -> _Secret:
        if self._key is None:
            if self._key_lookup is not None:
                value = self._key_lookup()
            else:
                from core import secrets

                value = secrets.get_key()
            if not value:
                raise RemoteError(
                    "no OpenAI key is set: run `footnote key set`, or set OPENAI_API_KEY in the environment"
                )
            self._key = _Secret(value)
        return self._key

    def count_tokens(self, text: str) -> int:
        """Remote tokenisers are unknown here; about 3 characters a token errs on the safe side."""
        return max(1, (len(text) + 2) // 3)

    def context_size(self) -> int:
        return int(self.settings.n_ctx)

    def model_name(self) -> str:
        return self.model

    def identity(self) -> str:
        return f"openai:{_safe_url(self.base_url)}:{self.model}"

    def yes_probability(self, messages: list[ChatMessage], cancel: threading.Event | None = None) -> float | None:
        """A remote server gives no logits here; the answer's own wording decides abstention."""
        return None

    def _scrub(self, text: str) -> str:
        if self._key is not None:
            text = text.replace(self._key.reveal(), "<key>")
        return re.sub(r"sk-[A-Za-z0-9_\-]{8,}", "<key>", text)[:300]

    def _status_message(self, status: int, body: str) -> str:
        where = _safe_url(self.base_url)
        detail = ""
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            err = json.loads(body).get("error")
            detail = err.get("message", "") if isinstance(err, dict) else str(err or "")
        detail = f": {self._scrub(detail)}" if detail else ""
        if status == 401:
            return "the OpenAI key was refused (401); store a valid one with `footnote key set`"
        if status == 403:
            return f"the OpenAI server at {where} refused access (403){detail}"
        if status == 429:
            return f"the OpenAI server at {where} is rate limiting or the quota is used up (429); try again later{detail}"
        if status == 404:
            return f"the OpenAI server at {where} does not know model '{self.model}' or the chat endpoint (404){detail}"
        if status >= 500:
            return f"the OpenAI server at {where} failed (HTTP {status}){detail}"
        return f"the OpenAI server at {where} rejected the request (HTTP {status}){detail}"

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        cancel: threading.Event | None = None,
        first_token_deadline: float | None = None,
        stats: StreamStats | None = None,
    ) -> Iterator[str]:
        import httpx

        stats = stats if stats is not None else StreamStats()
        stats.started = time.monotonic()
        key = self._api_key()
        where = _safe_url(self.base_url)
        read_timeout = self.read_timeout
        if first_token_deadline is not None:
            read_timeout = max(0.1, min(read_timeout, first_token_deadline - time.monotonic()))
        timeout = httpx.Timeout(connect=self.connect_timeout, read=read_timeout, write=30.0, pool=5.0)
        body = {
            "model": self.model,
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        headers = {"Authorization": f"Bearer {key.reveal()}", "Accept": "text/event-stream"}
        done = False
        error: GenerationError | None = None
        try:
            with httpx.Client(timeout=timeout) as client, client.stream(
                "POST", f"{self.base_url}/chat/completions", json=body, headers=headers
            ) as resp:
                if resp.status_code != 200:
                    resp.read()
                    raise RemoteError(self._status_message(resp.status_code, resp.text), resp.status_code)
                for line in resp.iter_lines():
                    if cancel is not None and cancel.is_set():
                        stats.stopped = True
                        stats.finish_reason = "stopped"
                        return
                    if not line.startswith("data:"):
                        continue
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        done = True
                        break
                    try:
                        chunk = json.loads(payload)
                    except ValueError:
                        raise RemoteError(f"the answer stream from {where} was garbled") from None
                    if isinstance(chunk, dict) and chunk.get("error"):
                        err = chunk["error"]
                        msg = err.get("message", "") if isinstance(err, dict) else str(err)
                        raise RemoteError(f"the OpenAI server at {where} failed mid-answer: {self._scrub(str(msg))}")
                    for choice in chunk.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            if stats.first_token_at is None:
                                stats.first_token_at = time.monotonic()
                            stats.completion_tokens += 1
                            yield piece
                        if choice.get("finish_reason"):
                            stats.finish_reason = str(choice["finish_reason"])
                if not done and not stats.finish_reason:
                    raise RemoteError(f"the answer stream from {where} broke off before the end")
        except RemoteError as exc:
            error = exc
        except httpx.ConnectTimeout:
            error = RemoteError(f"could not reach the OpenAI server at {where} within {self.connect_timeout:g} s")
        except httpx.ConnectError:
            error = RemoteError(f"could not connect to the OpenAI server at {where} (connection refused or no network)")
        except httpx.ReadTimeout:
            if stats.first_token_at is None and first_token_deadline is not None:
                error = FirstTokenTimeout(f"the OpenAI server at {where} did not start answering in time")
            else:
                error = RemoteError(f"the OpenAI server at {where} stopped responding (timed out after {read_timeout:g} s)")
        except httpx.TimeoutException:
            error = RemoteError(f"the OpenAI server at {where} timed out")
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.StreamError):
            error = RemoteError(f"the answer stream from {where} broke off before the end")
        except httpx.HTTPError as exc:
            error = RemoteError(f"the request to the OpenAI server at {where} failed ({type(exc).__name__})")
        finally:
            stats.finished_at = time.monotonic()
        if error is not None:
            log.warning("openai request failed url=%s status=%s error=%s", where, getattr(error, "status", None), error)
            # Raised outside the except blocks so no httpx exception (with request details) is chained.
            raise error
