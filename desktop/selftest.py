"""``footnote --self-test``: prove that this install (frozen or not) can answer with citations.

It runs headless (no Qt), in a throwaway data folder, through the same engine the window uses:
open the engine and load the embedding model and the default answer model (the bundled
Qwen2.5-Coder-1.5B, named by ``"model"`` in the result), import ``assets/sample.md``, ask the local
model a question about it, and check that the answer cites that document. It also checks that
``keyring`` loads a backend, or reports the plain "no system keyring" message. A missing bundled library, model
or data file therefore fails here, with the stage and reason, instead of in a user's first session.

Standard output carries exactly one JSON line (CI parses it). Anything a native library prints
goes to standard error, so fd 1 is pointed at fd 2 for the duration of the run.

Timings (milliseconds):

* ``start``: process start (Linux ``/proc``) until the self-test begins (bootloader, interpreter,
  entry-point imports);
* ``model_load``: engine open, embedding model assembled and loaded, GGUF loaded
  (``embedding_load`` and ``llm_load`` split it);
* ``import``: ``sample.md`` loaded, chunked, embedded and stored;
* ``first_token``: question asked until the first answer token (retrieval included);
* ``answer``: question asked until the answer is done;
* ``total``: process start until the result is printed.

``FOOTNOTE_SELFTEST_ONLY=keyring`` stops after the keyring check (CI runs that once more against a
real Secret Service); ``FOOTNOTE_SELFTEST_TIMEOUT`` (seconds, default 600) bounds the whole run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

QUESTION = "What does the duration of the waggle run tell the other bees?"
SAMPLE = "sample.md"
DEFAULT_TIMEOUT_S = 600.0
EXIT_FAILED, EXIT_TIMEOUT = 1, 3


class SelfTestFailure(Exception):
    """A check failed; the message is the reason shown to the user."""


def assets_dir() -> Path:
    """``assets/`` beside the packages: the repository in a checkout, ``_internal/`` when frozen."""
    return Path(__file__).resolve().parent.parent / "assets"


def process_age_s() -> float | None:
    """Seconds since this process started, from ``/proc``; None where that is not available."""
    try:
        stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - int(stat[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class _Result:
    """The JSON line, written once, to the real stdout, by whichever of run or watchdog ends first."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self._done = False

    def emit(self, obj: dict[str, Any]) -> bool:
        with self._lock:
            if self._done:
                return False
            self._done = True
            try:
                os.write(self._fd, (json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8"))
            except OSError:
                return False
            return True


def _keyring_check() -> dict[str, Any]:
    try:
        import keyring  # noqa: F401
    except Exception as exc:  # an unbundled backend module shows up here
        raise SelfTestFailure(f"keyring: the module does not load ({type(exc).__name__}: {exc})") from None
    from core import secrets

    st = secrets.status()
    if st.usable_keyring:
        return {"backend": st.backend, "usable": True}
    if not st.message.startswith("no system keyring is available"):
        raise SelfTestFailure(f"keyring: no backend and no clear message (backend {st.backend}: {st.message!r})")
    return {"backend": st.backend, "usable": False, "message": st.message}


def _run(stage: list[str], timings: dict[str, float | None], info: dict[str, Any]) -> None:
    def ms(t: float) -> float:
        return round((time.perf_counter() - t) * 1000, 1)

    stage[0] = "sample"
    sample = assets_dir() / SAMPLE
    if not sample.is_file():
        raise SelfTestFailure(f"{sample}: the bundled sample document is missing")

    stage[0] = "licences"
    from core.modelstore import licences_text

    if "Apache License" not in licences_text():  # the About dialog shows this file; it must ship
        raise SelfTestFailure("licences: models/LICENSES.md lacks the Apache-2.0 text")

    stage[0] = "keyring"
    info["keyring"] = _keyring_check()
    if os.environ.get("FOOTNOTE_SELFTEST_ONLY", "").strip().lower() == "keyring":
        info["only"] = "keyring"  # CI's cheap second run against a real Secret Service
        return

    stage[0] = "gpu"
    import llama_cpp  # a missing libllama/libggml fails right here

    info["gpu_offload"] = bool(llama_cpp.llama_supports_gpu_offload())

    data_dir = Path(tempfile.mkdtemp(prefix="footnote-selftest-"))
    try:
        stage[0] = "model_load"
        from core.answer.llama_local import LocalLlama
        from core.engine import Engine
        from core.modelstore import default_llm_name
        from core.settings import Settings

        info["model"] = default_llm_name()  # the default, unless FOOTNOTE_DEFAULT_LLM names another
        t = time.perf_counter()
        settings = Settings(backend="local")
        engine = Engine(data_dir, settings)
        try:
            engine.warm_up()
            timings["embedding_load"] = ms(t)
            t_llm = time.perf_counter()
            LocalLlama(settings).load()
            timings["llm_load"] = ms(t_llm)
            timings["model_load"] = ms(t)

            stage[0] = "import"
            t = time.perf_counter()
            doc_id: str | None = None
            for ev in engine.ingest([str(sample)]):
                if ev.kind == "failed":
                    raise SelfTestFailure(f"import: {ev.error}")
                if ev.kind == "done":
                    doc_id = ev.document_id
            if doc_id is None:
                raise SelfTestFailure(f"import: {sample.name} produced no document")
            timings["import"] = ms(t)

            stage[0] = "answer"
            t = time.perf_counter()
            stream = engine.ask(QUESTION, backend="local", use_cache=False)
            answer = None
            tokens = 0
            for aev in stream:
                if aev.kind == "token":
                    tokens += 1
                    if timings.get("first_token") is None:
                        timings["first_token"] = ms(t)
                elif aev.kind == "error":
                    raise SelfTestFailure(f"answer: {aev.text}")
                elif aev.kind == "done":
                    answer = aev.answer
            timings["answer"] = ms(t)
            info["answer_tokens"] = tokens
            if answer is None:
                raise SelfTestFailure("answer: the stream ended without an answer")
            info["answer"] = answer.answer[:300]
            info["backend"] = answer.backend
            if answer.backend != "local":
                raise SelfTestFailure(f"answer: came from backend '{answer.backend}', not the local model")
            if answer.abstained:
                raise SelfTestFailure("answer: the model abstained; retrieval found nothing relevant in the sample")
            cited = [c for c in answer.citations if c.document_id == doc_id]
            info["citations"] = len(cited)
            if not cited:
                raise SelfTestFailure(
                    f"answer: no citation to {sample.name} ({len(answer.citations)} citations in all)"
                )
        finally:
            engine.close()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


def run(timeout_s: float | None = None) -> int:
    """Run the self-test; print one JSON line; 0 when every check passed."""
    t_start = process_age_s()
    t0 = time.perf_counter()
    real_stdout = os.dup(1)
    sys.stdout.flush()
    os.dup2(2, 1)  # native libraries that print to stdout must not break the one JSON line
    result = _Result(real_stdout)
    stage = ["start"]
    timings: dict[str, float | None] = {
        "start": round(t_start * 1000, 1) if t_start is not None else None,
        "model_load": None,
        "embedding_load": None,
        "llm_load": None,
        "import": None,
        "first_token": None,
        "answer": None,
        "total": None,
    }
    info: dict[str, Any] = {"gpu_offload": None, "model": None}

    def total() -> float:
        return round(((t_start or 0.0) + time.perf_counter() - t0) * 1000, 1)

    def failure(reason: str) -> dict[str, Any]:
        timings["total"] = total()
        return {
            "ok": False,
            "stage": stage[0],
            "reason": reason,
            "frozen": bool(getattr(sys, "frozen", False)),
            "timings_ms": timings,
            **info,
        }

    limit = (
        timeout_s if timeout_s is not None else float(os.environ.get("FOOTNOTE_SELFTEST_TIMEOUT", DEFAULT_TIMEOUT_S))
    )

    def watchdog() -> None:
        if result.emit(failure(f"{stage[0]}: did not finish within {limit:g} s")):
            os._exit(EXIT_TIMEOUT)

    timer = threading.Timer(limit, watchdog)
    timer.daemon = True
    timer.start()
    try:
        _run(stage, timings, info)
        timings["total"] = total()
        result.emit({"ok": True, "frozen": bool(getattr(sys, "frozen", False)), "timings_ms": timings, **info})
        return 0
    except SelfTestFailure as exc:
        result.emit(failure(str(exc)))
        return EXIT_FAILED
    except Exception as exc:  # any unexpected error is a failed self-test with its reason, not a traceback
        log.debug("self-test error", exc_info=True)
        detail = str(exc).splitlines()[0][:300] if str(exc) else ""
        result.emit(failure(f"{stage[0]}: {type(exc).__name__}" + (f": {detail}" if detail else "")))
        return EXIT_FAILED
    finally:
        timer.cancel()
        sys.stdout.flush()
        os.dup2(real_stdout, 1)  # give the caller its stdout back (tests call run() in-process)
        os.close(real_stdout)
