"""Text generators: the local GGUF model through llama-cpp-python, and an OpenAI-compatible server.

Both stream text pieces and honour a ``threading.Event`` for stop. The local path does not call
``create_chat_completion``: it tokenises the chat-templated prompt itself, evaluates it in small
batches (so a stop request or the first-token deadline interrupts a long prompt, between batches)
and then samples with ``Llama.generate``, which finds the prompt already in the KV cache. Doing the
loop here also keeps the per-token cost lower than the library's completion wrapper, which the
generation benchmark checks.

Two llama-cpp-python pitfalls are handled on load:

* ``verbose=False`` makes the library ``dup2`` the process's stdout/stderr file descriptors to
  /dev/null while loading (llama-cpp-python #796, #1874). In a windowed app those descriptors may
  be closed or shared with other threads, and the dance can crash or swallow output. We load with
  ``verbose=True`` (no descriptor games), install our own ``llama_log_set`` callback so llama.cpp's
  native log goes to ``logging``, catch the few Python-level prints of the load in ``logging``
  too, and turn ``verbose`` off afterwards.
* llama.cpp's CPU "extra buffer types" (AMX tiles, weight repacking) crashed with SIGSEGV in
  ``ggml_backend_amx_mul_mat`` on the AMX-capable VMs we test on; they give the bundled Q4_1 model
  nothing (repacking does not cover Q4_1). They are off unless ``FOOTNOTE_LLAMA_EXTRA_BUFTS=1``.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import ctypes
import io
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from core.errors import FootnoteError, ModelError
from core.settings import Settings

log = logging.getLogger(__name__)
native_log = logging.getLogger("footnote.llama_cpp")

ChatMessage = dict[str, str]

#: Prompt tokens evaluated between two checks of the stop flag and the first-token deadline, when
#: llama.cpp's abort callback cannot be installed (otherwise the context's n_batch is used).
PROMPT_BATCH = 64


class GenerationError(FootnoteError):
    """Generation failed; ``str()`` is a complete message for a person (never holds a key)."""


class LocalModelUnavailable(GenerationError):
    """The GGUF is missing or llama.cpp could not load it: ``auto`` falls back to OpenAI."""


class FirstTokenTimeout(GenerationError):
    """No first token before the deadline: ``auto`` falls back to OpenAI."""


class RemoteError(GenerationError):
    """The OpenAI-compatible server refused, failed or broke off."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class StreamStats:
    """Filled in by ``stream()`` as it goes, for timings and benchmarks."""

    prompt_tokens: int = 0
    cached_tokens: int = 0
    completion_tokens: int = 0
    started: float = 0.0
    first_token_at: float | None = None
    finished_at: float | None = None
    stopped: bool = False
    finish_reason: str = ""

    @property
    def first_token_s(self) -> float | None:
        return None if self.first_token_at is None else self.first_token_at - self.started

    @property
    def decode_tokens_per_s(self) -> float | None:
        if self.first_token_at is None or self.finished_at is None or self.completion_tokens < 2:
            return None
        span = self.finished_at - self.first_token_at
        return (self.completion_tokens - 1) / span if span > 0 else None


class Generator(Protocol):
    """What the answer pipeline needs from a backend."""

    name: str

    def count_tokens(self, text: str) -> int: ...

    def context_size(self) -> int: ...

    def stream(
        self,
        messages: list[ChatMessage],
        *,
        max_tokens: int,
        temperature: float,
        cancel: threading.Event | None = None,
        first_token_deadline: float | None = None,
        stats: StreamStats | None = None,
    ) -> Iterator[str]: ...


# ---------------------------------------------------------------------------------------------
# Local llama.cpp
# ---------------------------------------------------------------------------------------------


def resolve_gpu_layers(setting: str, supports_offload: bool) -> int:
    """Map the ``n_gpu_layers`` setting to llama.cpp's number (-1 means every layer).

    ``auto`` offloads everything when the build can use a GPU and nothing otherwise; asking a
    CPU-only build for GPU layers is harmless, so ``all`` and N are passed through as given.
    """
    value = str(setting).strip().lower()
    if value in ("", "auto"):
        return -1 if supports_offload else 0
    if value in ("all", "-1"):
        return -1
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"n_gpu_layers: '{setting}' is not auto, all, 0 or a whole number") from None
    if n < 0:
        raise ValueError(f"n_gpu_layers: '{setting}' must not be negative (use 'all' for every layer)")
    return n


def physical_cores() -> int:
    """Physical cores: llama.cpp decoding slows down on hyper-threads, so default to these."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cores: set[tuple[str, str]] = set()
            phys = core = ""
            for line in fh:
                key, _, val = line.partition(":")
                key = key.strip()
                if key == "physical id":
                    phys = val.strip()
                elif key == "core id":
                    core = val.strip()
                elif not line.strip():
                    if core:
                        cores.add((phys, core))
                    phys = core = ""
            if core:
                cores.add((phys, core))
        if cores:
            return len(cores)
    except OSError:
        pass
    return max(1, os.cpu_count() or 1)


# ggml_log_level: NONE=0, DEBUG=1, INFO=2, WARN=3, ERROR=4, CONT=5 (continues the previous line).
_LEVELS = {0: logging.DEBUG, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_log_callback: Any = None  # keep the ctypes callback alive for the life of the process
_last_level = logging.DEBUG
#: Set while a decode is being aborted on purpose: llama.cpp then logs "failed to decode" errors
#: that are expected, so they are demoted to debug.
_aborting = threading.Event()


def _install_native_log() -> None:
    """Route llama.cpp's own log to ``logging`` instead of the process's stderr."""
    global _log_callback
    if _log_callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback  # type: ignore[untyped-decorator]
    def _callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        global _last_level
        lvl = _last_level if level == 5 else _LEVELS.get(level, logging.DEBUG)
        _last_level = lvl
        # llama.cpp's INFO is chatty (one line per tensor); keep it at DEBUG here.
        lvl = logging.DEBUG if lvl == logging.INFO or _aborting.is_set() else lvl
        if native_log.isEnabledFor(lvl):
            msg = text.decode("utf-8", errors="replace").rstrip()
            if msg:
                native_log.log(lvl, "llama_cpp message=%s", msg)

    _log_callback = _callback
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))


class _LogWriter(io.TextIOBase):
    """A text stream that turns the library's Python prints into debug log lines."""

    def write(self, s: str) -> int:
        for line in s.splitlines():
            if line.strip():
                native_log.debug("llama_cpp_python message=%s", line[:500])
        return len(s)


@contextlib.contextmanager
def _model_params_patch(extra_bufts: bool) -> Iterator[None]:
    """Llama() does not expose ``use_extra_bufts``; adjust the defaults it starts from, briefly."""
    import importlib

    # llama.py calls ``llama_cpp.llama_cpp.llama_model_default_params()`` through this module.
    lib: Any = importlib.import_module("llama_cpp.llama_cpp")
    original = lib.llama_model_default_params

    def patched() -> Any:
        params = original()
        params.use_extra_bufts = extra_bufts
        return params

    lib.llama_model_default_params = patched
    try:
        yield
    finally:
        lib.llama_model_default_params = original


_abort_fn: Any = None


def _abort_setter() -> Any:
    """``llama_set_abort_callback`` from the loaded library (llama-cpp-python does not bind it)."""
    global _abort_fn
    if _abort_fn is None:
        import llama_cpp

        lib = getattr(llama_cpp.llama_cpp, "_lib", None)
        fn = getattr(lib, "llama_set_abort_callback", None)
        if fn is None:
            _abort_fn = False
        else:
            fn.argtypes = [ctypes.c_void_p, llama_cpp.ggml_abort_callback, ctypes.c_void_p]
            fn.restype = None
            _abort_fn = fn
    return _abort_fn or None


def extra_bufts_enabled() -> bool:
    return os.environ.get("FOOTNOTE_LLAMA_EXTRA_BUFTS", "") == "1"


def create_llama(model_path: Path, *, n_ctx: int, n_threads: int, n_gpu_layers: int, **kwargs: Any) -> Any:
    """Build a ``llama_cpp.Llama`` the safe way (see the module docstring). Used by the benchmark too."""
    import llama_cpp

    _install_native_log()
    with _model_params_patch(extra_bufts_enabled()), contextlib.redirect_stdout(_LogWriter()), \
            contextlib.redirect_stderr(_LogWriter()):
        llm = llama_cpp.Llama(
            model_path=str(model_path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_threads_batch=n_threads,
            n_gpu_layers=n_gpu_layers,
            verbose=True,
            **kwargs,
        )
    llm.verbose = False  # no per-call prints from here on
    return llm


@dataclass
class _Loaded:
    key: tuple[str, int, int, int]
    llm: Any
    formatter: Any
    stop_ids: frozenset[int]
    lock: threading.Lock = field(default_factory=threading.Lock)


_load_lock = threading.Lock()
_loaded: _Loaded | None = None


def _load(key: tuple[str, int, int, int]) -> _Loaded:
    """One Llama per process: a different model or context size replaces the old one."""
    global _loaded
    with _load_lock:
        if _loaded is not None and _loaded.key == key:
            return _loaded
        path, n_ctx, n_threads, n_gpu_layers = key
        if _loaded is not None:
            with _loaded.lock:
                with contextlib.suppress(Exception):
                    _loaded.llm.close()
            _loaded = None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        t0 = time.monotonic()
        try:
            llm = create_llama(Path(path), n_ctx=n_ctx, n_threads=n_threads, n_gpu_layers=n_gpu_layers)
        except (ValueError, RuntimeError, OSError) as exc:
            raise LocalModelUnavailable(f"{path}: the local model could not be loaded ({exc})") from None
        template = llm.metadata.get("tokenizer.chat_template")
        eos = llm.token_eos()
        bos = llm.token_bos()
        eos_text = llm._model.token_get_text(eos) if eos != -1 else ""
        bos_text = llm._model.token_get_text(bos) if bos != -1 else ""
        if template:
            formatter = Jinja2ChatFormatter(
                template=template, eos_token=eos_text, bos_token=bos_text, stop_token_ids=[eos]
            )
        else:
            # No template in the file: use ChatML, the most common instruct format.
            log.warning("gguf has no chat template path=%s; using chatml", path)
            formatter = Jinja2ChatFormatter(
                template=_CHATML, eos_token=eos_text, bos_token=bos_text, stop_token_ids=[eos]
            )
        stop_ids = frozenset({eos} - {-1})
        _loaded = _Loaded(key, llm, formatter, stop_ids)
        log.info(
            "local model loaded path=%s n_ctx=%d n_threads=%d n_gpu_layers=%d seconds=%.2f",
            path, n_ctx, n_threads, n_gpu_layers, time.monotonic() - t0,
        )
        return _loaded


_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def unload_local_model() -> None:
    """Free the process's model (settings change, tests)."""
    global _loaded
    with _load_lock:
        if _loaded is not None:
            with _loaded.lock:
                with contextlib.suppress(Exception):
                    _loaded.llm.close()
            _loaded = None


# Free the model before interpreter teardown: llama-cpp-python's own __del__ then runs after
# its module globals are gone and prints a TypeError traceback at every exit.
atexit.register(unload_local_model)


class LocalLlama:
    """The bundled (or a chosen) GGUF through llama-cpp-python, loaded lazily once per process."""

    name = "local"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._path: Path | None = None

    def model_path(self) -> Path:
        if self._path is None:
            if self.settings.model_path:
                path = Path(self.settings.model_path).expanduser()
                if not path.is_file():
                    raise LocalModelUnavailable(f"{path}: the model file does not exist")
            else:
                from core.modelstore import default_llm_path

                try:
                    path = default_llm_path()
                except ModelError as exc:
                    raise LocalModelUnavailable(str(exc)) from None
            self._path = path
        return self._path

    def _key(self) -> tuple[str, int, int, int]:
        import llama_cpp

        gpu = resolve_gpu_layers(self.settings.n_gpu_layers, bool(llama_cpp.llama_supports_gpu_offload()))
        threads = self.settings.n_threads if self.settings.n_threads > 0 else physical_cores()
        return (str(self.model_path()), int(self.settings.n_ctx), int(threads), gpu)

    def load(self) -> None:
        """Load now (the app calls this in a worker at start so the first answer is quick)."""
        _load(self._key())

    def llama(self) -> Any:
        """The underlying ``llama_cpp.Llama`` (for benchmarks that compare with the raw library)."""
        return _load(self._key()).llm

    def count_tokens(self, text: str) -> int:
        loaded = _load(self._key())
        with loaded.lock:
            return len(loaded.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def context_size(self) -> int:
        return int(_load(self._key()).llm.n_ctx())

    def prompt_tokens(self, messages: list[ChatMessage]) -> list[int]:
        loaded = _load(self._key())
        return self._prompt_tokens(loaded, messages)

    @staticmethod
    def _prompt_tokens(loaded: _Loaded, messages: list[ChatMessage]) -> list[int]:
        result = loaded.formatter(messages=messages)
        tokens: list[int] = loaded.llm.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        return tokens

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
        stats = stats if stats is not None else StreamStats()
        stats.started = time.monotonic()
        loaded = _load(self._key())
        with loaded.lock:
            yield from self._stream_locked(loaded, messages, max_tokens, temperature, cancel, first_token_deadline, stats)

    def _stream_locked(
        self,
        loaded: _Loaded,
        messages: list[ChatMessage],
        max_tokens: int,
        temperature: float,
        cancel: threading.Event | None,
        deadline: float | None,
        stats: StreamStats,
    ) -> Iterator[str]:
        import llama_cpp

        llm = loaded.llm
        tokens = self._prompt_tokens(loaded, messages)
        n_ctx = int(llm.n_ctx())
        if len(tokens) >= n_ctx:
            raise GenerationError(f"the question and its sources need {len(tokens)} tokens; the context holds {n_ctx}")
        max_tokens = max(1, min(max_tokens, n_ctx - len(tokens)))
        stats.prompt_tokens = len(tokens)

        def stopped() -> bool:
            return cancel is not None and cancel.is_set()

        def too_late() -> bool:
            return deadline is not None and time.monotonic() > deadline

        # Reuse the longest cached prefix, but always evaluate at least the last token so that
        # its logits are fresh for sampling.
        prefix = min(llm.longest_token_prefix(llm._input_ids, tokens), len(tokens) - 1)
        stats.cached_tokens = prefix
        llm.n_tokens = prefix
        # llama.cpp's abort callback lets a stop request or the deadline interrupt a decode
        # between graph nodes, so the prompt can go in full-size batches (much faster than small
        # ones for a small model). It is installed only for the prompt: during sampling the stop
        # flag is checked between tokens and a per-node Python call would cost decode speed.
        setter = _abort_setter()
        callback = None
        batch = PROMPT_BATCH
        if setter is not None:
            def should_abort(_data: Any) -> bool:
                if stopped() or too_late():
                    _aborting.set()
                    return True
                return False

            callback = llama_cpp.ggml_abort_callback(should_abort)
            setter(llm.ctx, callback, None)
            batch = int(llm.n_batch)
        try:
            for i in range(prefix, len(tokens), batch):
                if stopped() or too_late():
                    break
                try:
                    llm.eval(tokens[i : i + batch])
                except RuntimeError as exc:
                    if stopped() or too_late():
                        break  # aborted by the callback; n_tokens still counts whole batches only
                    llm.reset()
                    raise GenerationError(f"the local model failed while reading the prompt ({exc})") from None
        finally:
            if setter is not None:
                setter(llm.ctx, llama_cpp.ggml_abort_callback(), None)
            _aborting.clear()
        if stopped():
            stats.stopped = True
            stats.finish_reason = "stopped"
            stats.finished_at = time.monotonic()
            log.info("generation stopped during prompt evaluation evaluated=%d of=%d", llm.n_tokens, len(tokens))
            return
        if too_late():
            raise FirstTokenTimeout(
                f"the local model did not start answering within {self.settings.first_token_timeout_s:g} s"
            )
        del callback

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        vocab = llm._model.vocab
        gen = llm.generate(
            tokens, top_k=40, top_p=0.95, min_p=0.05, temp=temperature, repeat_penalty=1.0, reset=True
        )
        n = 0
        try:
            for tok in gen:
                if stopped():
                    stats.stopped = True
                    stats.finish_reason = "stopped"
                    return
                if tok in loaded.stop_ids or llama_cpp.llama_vocab_is_eog(vocab, tok):
                    stats.finish_reason = "stop"
                    break
                n += 1
                stats.completion_tokens = n
                if stats.first_token_at is None:
                    stats.first_token_at = time.monotonic()
                text = decoder.decode(llm.detokenize([tok]))
                if text:
                    yield text
                if n >= max_tokens:
                    stats.finish_reason = "length"
                    break
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
        except RuntimeError as exc:
            llm.reset()
            raise GenerationError(f"the local model failed while answering ({exc})") from None
        finally:
            gen.close()
            stats.finished_at = time.monotonic()


# ---------------------------------------------------------------------------------------------
# OpenAI-compatible server
# ---------------------------------------------------------------------------------------------


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
