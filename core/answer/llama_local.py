"""The local GGUF model through llama-cpp-python.

It streams text pieces and honours a ``threading.Event`` for stop. It does not call
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
  native log goes to ``logging``, send the loading thread's few Python-level prints to ``logging``
  too (other threads' output is untouched), and turn ``verbose`` off afterwards.
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
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.answer.generator import (
    ChatMessage,
    FirstTokenTimeout,
    GenerationError,
    LocalModelUnavailable,
    StreamStats,
)
from core.errors import ModelError
from core.settings import Settings

log = logging.getLogger(__name__)
native_log = logging.getLogger("footnote.llama_cpp")

#: Prompt tokens evaluated between two checks of the stop flag and the first-token deadline, when
#: llama.cpp's abort callback cannot be installed (otherwise the context's n_batch is used).
PROMPT_BATCH = 64
#: P(yes) below which a model that no one measured abstains: the model thinks "no" more likely.
DEFAULT_ANSWERABLE_MIN = 0.5


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


class _ThreadRouted:
    """Stands in for ``sys.stdout``/``sys.stderr`` while a model loads: the loading thread's prints
    go to the log, every other thread's writes reach the stream it replaced unchanged."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def write(self, s: str) -> Any:
        if threading.get_ident() in _loading_threads:
            return _LOG_WRITER.write(s)
        return self.target.write(s)

    def flush(self) -> None:
        if threading.get_ident() not in _loading_threads:
            self.target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.target, name)


_LOG_WRITER = _LogWriter()
_route_lock = threading.Lock()
_loading_threads: set[int] = set()


@contextlib.contextmanager
def _load_prints_to_log() -> Iterator[None]:
    """Send this thread's Python-level prints to the log while the block runs (a model load prints
    metadata and chat-format guesses to stderr), without touching other threads' output."""
    import sys

    me = threading.get_ident()
    with _route_lock:
        if not _loading_threads:  # None (a windowed app) stays None: print() skips it
            if sys.stdout is not None:
                sys.stdout = _ThreadRouted(sys.stdout)
            if sys.stderr is not None:
                sys.stderr = _ThreadRouted(sys.stderr)
        _loading_threads.add(me)
    try:
        yield
    finally:
        with _route_lock:
            _loading_threads.discard(me)
            if not _loading_threads:
                # Undo only our own stand-ins: whoever replaced them since keeps theirs.
                if isinstance(sys.stdout, _ThreadRouted):
                    sys.stdout = sys.stdout.target
                if isinstance(sys.stderr, _ThreadRouted):
                    sys.stderr = sys.stderr.target


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
    with _model_params_patch(extra_bufts_enabled()), _load_prints_to_log():
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
    #: The token ids that start "yes" and "no" in this model's vocabulary (found on first check).
    yes_no: tuple[list[int], list[int]] | None = None


#: Models kept loaded at once: the answer model and the fast one summaries use for their map step.
MAX_LOADED = 2
_load_lock = threading.Lock()
_loaded: dict[tuple[str, int, int, int], _Loaded] = {}


def _close(entry: _Loaded) -> None:
    with entry.lock:
        with contextlib.suppress(Exception):
            entry.llm.close()


def _last_logits(llm: Any) -> Any:
    """The last evaluated token's logits, straight from the context (the library keeps a copy only
    with logits_all, which costs memory and speed). A view: read it before the next eval."""
    import llama_cpp
    import numpy as np

    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(int(llm.n_vocab()),))


def _below_even_odds(llm: Any, token: int) -> bool:
    """Did the model give ``token`` less than even odds? From the logits that chose it (the last
    evaluated position: the next token is not read until the loop asks for it)."""
    import numpy as np

    logits = _last_logits(llm)
    top = float(logits.max())
    return bool(np.exp(float(logits[token]) - top) < 0.5 * float(np.exp(logits - top).sum()))


def _load(key: tuple[str, int, int, int]) -> _Loaded:
    """Loaded models by (path, n_ctx, threads, GPU layers); the least recently used is freed first."""
    with _load_lock:
        entry = _loaded.pop(key, None)
        if entry is not None:
            _loaded[key] = entry  # most recently used last
            return entry
        path, n_ctx, n_threads, n_gpu_layers = key
        for old in [k for k in _loaded if k[0] == path] + list(_loaded)[: max(0, len(_loaded) - MAX_LOADED + 1)]:
            if old in _loaded:
                _close(_loaded.pop(old))
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
        if not template:
            # No template in the file: use ChatML, the most common instruct format.
            log.warning("gguf has no chat template path=%s; using chatml", path)
            template = _CHATML
        formatter = Jinja2ChatFormatter(template=template, eos_token=eos_text, bos_token=bos_text, stop_token_ids=[eos])
        stop_ids = frozenset({eos} - {-1})
        entry = _Loaded(key, llm, formatter, stop_ids)
        _loaded[key] = entry
        log.info(
            "local model loaded path=%s n_ctx=%d n_threads=%d n_gpu_layers=%d seconds=%.2f",
            path, n_ctx, n_threads, n_gpu_layers, time.monotonic() - t0,
        )
        return entry


_CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def unload_local_model() -> None:
    """Free the process's models (settings change, tests, exit)."""
    with _load_lock:
        while _loaded:
            _close(_loaded.popitem()[1])


# Free the model before interpreter teardown: llama-cpp-python's own __del__ then runs after
# its module globals are gone and prints a TypeError traceback at every exit.
atexit.register(unload_local_model)


class LocalLlama:
    """The bundled (or a chosen) GGUF through llama-cpp-python, loaded lazily once per process.

    ``model_path`` overrides the settings' model (summaries use the fast bundled model that way).
    """

    name = "local"

    def __init__(self, settings: Settings, model_path: Path | None = None) -> None:
        self.settings = settings
        self._path: Path | None = model_path
        self._identity: str | None = None

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

    def model_name(self) -> str:
        """What the window and ``--json`` call this model: its file name without ``.gguf``."""
        return self.model_path().name.removesuffix(".gguf")

    def identity(self) -> str:
        """The model file's sha256 (trusted from its stamp): the answer cache keys on it."""
        if self._identity is None:
            from core.modelstore import model_identity

            try:
                self._identity = model_identity(self.model_path())
            except (ModelError, OSError) as exc:
                raise LocalModelUnavailable(str(exc)) from None
        return self._identity

    def _measured(self, name: str, default: float) -> float:
        """A threshold measured for this model (``answer_eval.py``), by its hash in the catalog."""
        import models

        sha = self.identity()
        for entry in models.llm_models(include_test=True):
            if entry.get("sha256") == sha and entry.get(name) is not None:
                return float(entry[name])
        return default

    def answerable_min(self) -> float:
        """The abstention threshold measured for this model; a model nobody measured gets the
        even-odds prior of 0.5."""
        return self._measured("answerable_min", DEFAULT_ANSWERABLE_MIN)

    def grounded_min(self) -> float:
        """Below this P(yes), an answer with an unsupported sentence is an abstention (measured per
        model; 0, no such rule, for a model nobody measured)."""
        return self._measured("grounded_min", 0.0)

    def confidence_rule(self) -> tuple[float, float]:
        """(``confident_min``, ``unsure_weight``) measured for this model: after the answer is
        written, mean P(yes) minus ``unsure_weight`` times the share of answer tokens it gave less
        than even odds must reach ``confident_min`` ((0, 0), no such rule, for a model nobody
        measured)."""
        return self._measured("confident_min", 0.0), self._measured("unsure_weight", 0.0)

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

    def yes_probability(self, messages: list[ChatMessage], cancel: threading.Event | None = None) -> float | None:
        """P(the reply starts with "yes") against "no", from the logits after the prompt.

        The prompt shares its passages with the answer prompt, so the KV cache keeps them and the
        answer that follows only reads its own last line. None if stopped.
        """
        loaded = _load(self._key())
        with loaded.lock:
            llm = loaded.llm
            tokens = self._prompt_tokens(loaded, messages)
            if len(tokens) >= int(llm.n_ctx()):
                return None
            stats = StreamStats()
            if not self._eval_prompt(loaded, tokens, cancel, None, stats):
                return None
            import numpy as np

            logits = _last_logits(llm).astype(np.float64)
            if loaded.yes_no is None:
                loaded.yes_no = (sorted(_first_tokens(llm, ("yes", "Yes", "YES", " yes", " Yes"))),
                                 sorted(_first_tokens(llm, ("no", "No", "NO", " no", " No"))))
            yes, no = loaded.yes_no
            top = float(logits.max())
            p_yes = float(np.exp(logits[yes] - top).sum())
            p_no = float(np.exp(logits[no] - top).sum())
            return p_yes / (p_yes + p_no) if p_yes + p_no > 0 else None

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

    def _eval_prompt(self, loaded: _Loaded, tokens: list[int], cancel: threading.Event | None,
                     deadline: float | None, stats: StreamStats) -> bool:
        """Read the prompt into the KV cache, reusing the longest cached prefix. False when stopped
        or past the deadline (the caller tells which)."""
        import llama_cpp

        llm = loaded.llm

        def interrupted() -> bool:
            return (cancel is not None and cancel.is_set()) or (deadline is not None and time.monotonic() > deadline)

        # Reuse the longest cached prefix, but always evaluate at least the last token so that
        # its logits are fresh for sampling.
        prefix = min(llm.longest_token_prefix(llm._input_ids, tokens), len(tokens) - 1)
        stats.prompt_tokens = len(tokens)
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
                if interrupted():
                    _aborting.set()
                    return True
                return False

            callback = llama_cpp.ggml_abort_callback(should_abort)
            setter(llm.ctx, callback, None)
            batch = int(llm.n_batch)
        try:
            for i in range(prefix, len(tokens), batch):
                if interrupted():
                    break
                try:
                    llm.eval(tokens[i : i + batch])
                except RuntimeError as exc:
                    if interrupted():
                        break  # aborted by the callback; n_tokens still counts whole batches only
                    llm.reset()
                    raise GenerationError(f"the local model failed while reading the prompt ({exc})") from None
        finally:
            if setter is not None:
                setter(llm.ctx, llama_cpp.ggml_abort_callback(), None)
            _aborting.clear()
        del callback
        return not interrupted() and llm.n_tokens == len(tokens)

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

        def stopped() -> bool:
            return cancel is not None and cancel.is_set()

        if not self._eval_prompt(loaded, tokens, cancel, deadline, stats):
            if stopped():
                stats.stopped = True
                stats.finish_reason = "stopped"
                stats.finished_at = time.monotonic()
                log.info("generation stopped during prompt evaluation evaluated=%d of=%d", llm.n_tokens, len(tokens))
                return
            raise FirstTokenTimeout(
                f"the local model did not start answering within {self.settings.first_token_timeout_s:g} s"
            )

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        vocab = llm._model.vocab
        gen = llm.generate(
            tokens, top_k=40, top_p=0.95, min_p=0.05, temp=temperature,
            repeat_penalty=float(self.settings.repeat_penalty), reset=True,
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
                stats.unsure_tokens.append(_below_even_odds(llm, tok))
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


def _first_tokens(llm: Any, words: Sequence[str]) -> set[int]:
    """The first token of each spelling (``yes``, ``Yes``, `` yes`` ...), as the model writes them."""
    out: set[int] = set()
    for w in words:
        toks = llm.tokenize(w.encode("utf-8"), add_bos=False, special=False)
        if toks:
            out.add(int(toks[0]))
    return out
