"""Generators against real parts: the bundled SmolLM2 GGUF and a real llama_cpp.server."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.answer.generator import FirstTokenTimeout, GenerationError, LocalModelUnavailable, RemoteError, StreamStats
from core.answer.llama_local import PROMPT_BATCH, LocalLlama, physical_cores, resolve_gpu_layers
from core.answer.openai_remote import OpenAICompatible
from core.settings import Settings
from tests.run_suite import ROOT, LlamaServer, free_port

QUESTION = [
    {"role": "system", "content": "You answer briefly."},
    {"role": "user", "content": "What colour is the sky on a clear day?"},
]
LONG = [{"role": "user", "content": "Write a long story about a dragon who learns to bake bread."}]


# -- pure functions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "offload", "expected"),
    [("auto", True, -1), ("auto", False, 0), ("", False, 0), ("all", False, -1), ("ALL", True, -1),
     ("0", True, 0), ("12", False, 12), (" 7 ", True, 7)],
)
def test_resolve_gpu_layers(setting: str, offload: bool, expected: int) -> None:
    assert resolve_gpu_layers(setting, offload) == expected


@pytest.mark.parametrize("bad", ["many", "-3", "1.5"])
def test_resolve_gpu_layers_rejects_nonsense(bad: str) -> None:
    with pytest.raises(ValueError, match="n_gpu_layers"):
        resolve_gpu_layers(bad, True)


def test_physical_cores_is_positive() -> None:
    assert 1 <= physical_cores() <= (__import__("os").cpu_count() or 1)


# -- local model -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local() -> LocalLlama:
    gen = LocalLlama(Settings(n_ctx=2048, temperature=0.0))
    gen.load()
    return gen


def test_local_streams_text_with_template_from_gguf(local: LocalLlama) -> None:
    stats = StreamStats()
    pieces = list(local.stream(QUESTION, max_tokens=16, temperature=0.0, stats=stats))
    assert "".join(pieces).strip()
    assert 1 <= stats.completion_tokens <= 16
    assert stats.first_token_s is not None and stats.first_token_s >= 0
    llm = local.llama()
    template = llm.metadata["tokenizer.chat_template"]
    assert "<|im_start|>" in template
    prompt = llm.detokenize(local.prompt_tokens(QUESTION), special=True).decode()
    assert prompt.startswith("<|im_start|>system\nYou answer briefly.<|im_end|>")
    assert prompt.endswith("<|im_start|>assistant\n")


def test_token_count_uses_the_models_tokenizer(local: LocalLlama) -> None:
    text = "Photovoltaic cells convert sunlight."
    assert local.count_tokens(text) == len(local.llama().tokenize(text.encode(), add_bos=False, special=True))
    assert local.context_size() == 2048


def test_cancel_ends_stream_within_one_token_and_model_stays_usable(local: LocalLlama) -> None:
    cancel = threading.Event()
    stats = StreamStats()
    got = 0
    for _ in local.stream(LONG, max_tokens=200, temperature=0.0, cancel=cancel, stats=stats):
        got += 1
        if got == 3:
            cancel.set()
    assert got == 3
    assert stats.stopped and stats.completion_tokens == 3
    again = "".join(local.stream(QUESTION, max_tokens=12, temperature=0.0))
    assert again.strip()


def llm_batch(local: LocalLlama) -> int:
    return max(PROMPT_BATCH, int(local.llama().n_batch))


class CountdownEvent(threading.Event):
    """A real Event that becomes set after it has been asked ``n`` times (deterministic stop points)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.calls = 0
        self.n = n

    def is_set(self) -> bool:
        self.calls += 1
        if self.calls > self.n:
            self.set()
        return super().is_set()


def test_cancel_interrupts_long_prompt_evaluation(local: LocalLlama) -> None:
    long_prompt = [{"role": "user", "content": "Summarise this. " + "The quick brown fox jumps over the lazy dog. " * 120}]
    total = len(local.prompt_tokens(long_prompt))
    assert total > 2 * llm_batch(local)
    llm = local.llama()
    llm.reset()
    stats = StreamStats()
    pieces = list(local.stream(long_prompt, max_tokens=50, temperature=0.0, cancel=CountdownEvent(2), stats=stats))
    assert pieces == []
    assert stats.stopped
    assert llm.n_tokens < total  # interrupted long before the end of the prompt
    assert "".join(local.stream(QUESTION, max_tokens=12, temperature=0.0)).strip()


def test_first_token_deadline(local: LocalLlama) -> None:
    with pytest.raises(FirstTokenTimeout, match="did not start answering"):
        list(local.stream(QUESTION, max_tokens=8, temperature=0.0, first_token_deadline=time.monotonic() - 1))


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    gen = LocalLlama(Settings(model_path=str(tmp_path / "nope.gguf")))
    with pytest.raises(LocalModelUnavailable, match="nope.gguf: the model file does not exist"):
        gen.load()


def test_broken_model_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(LocalModelUnavailable, match="could not be loaded"):
        LocalLlama(Settings(model_path=str(bad))).load()


def _run_python(code: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-c", textwrap.dedent(code)], cwd=str(ROOT), text=True, timeout=180, **kwargs
    )


def test_loading_keeps_stdout_and_stderr_working() -> None:
    """llama-cpp-python's verbose=False dup2s fds 1/2 (#796, #1874); ours must leave them alone."""
    code = """
        import os, sys
        from core.answer.llama_local import LocalLlama
        from core.settings import Settings
        g = LocalLlama(Settings(n_ctx=512))
        g.load()
        text = "".join(g.stream([{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0.0))
        print("OUT-MARK", flush=True)
        print("ERR-MARK", file=sys.stderr, flush=True)
        os.write(1, b"FD1-MARK\\n")
        os.write(2, b"FD2-MARK\\n")
    """
    proc = _run_python(code, capture_output=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "OUT-MARK" in proc.stdout and "FD1-MARK" in proc.stdout
    assert "ERR-MARK" in proc.stderr and "FD2-MARK" in proc.stderr
    assert "llama_model_loader" not in proc.stderr  # native log goes to logging, not the terminal


def test_loading_keeps_other_threads_output() -> None:
    """While a model loads in one thread, another thread's prints still reach stderr; the load's
    own Python-level prints (model metadata) go to the log."""
    code = """
        import sys, threading
        from core.answer.llama_local import LocalLlama
        from core.settings import Settings
        done = threading.Event()
        def load():
            LocalLlama(Settings(n_ctx=512)).load()
            done.set()
        t = threading.Thread(target=load)
        t.start()
        n = 0
        while not done.is_set():
            print(f"OTHER-THREAD {n}", file=sys.stderr, flush=True)
            n += 1
        t.join()
        print(f"SENT {n}", file=sys.stderr, flush=True)
    """
    proc = _run_python(code, capture_output=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    sent = int(proc.stderr.split("SENT ")[-1].split()[0])
    assert sent > 0
    assert proc.stderr.count("OTHER-THREAD ") == sent  # every line printed during the load arrived
    assert "Model metadata" not in proc.stderr and "llama_model_loader" not in proc.stderr


def test_works_without_stdout_and_stderr(tmp_path: Path) -> None:
    """A windowed app (pythonw, PyInstaller --windowed) has no fds 1/2 and sys.stdout is None."""
    out = tmp_path / "result.txt"
    code = f"""
        import os, sys
        os.close(1); os.close(2)
        sys.stdout = None; sys.stderr = None
        from core.answer.llama_local import LocalLlama
        from core.settings import Settings
        g = LocalLlama(Settings(n_ctx=512))
        text = "".join(g.stream([{{"role": "user", "content": "Hi"}}], max_tokens=4, temperature=0.0))
        open({str(out)!r}, "w").write("ok:" + str(len(text) > 0))
    """
    proc = _run_python(code, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert proc.returncode == 0
    assert out.read_text() == "ok:True"


# -- OpenAI-compatible server ------------------------------------------------------------------


def remote(server: LlamaServer, key: str | None, **kw: float) -> OpenAICompatible:
    settings = Settings(openai_base_url=server.base_url, openai_model="smollm2")
    return OpenAICompatible(settings, api_key=key, key_lookup=lambda: None, **kw)


def test_openai_streams(llama_server: LlamaServer, server_key: str) -> None:
    stats = StreamStats()
    pieces = list(remote(llama_server, server_key).stream(QUESTION, max_tokens=12, temperature=0.0, stats=stats))
    assert len(pieces) >= 2 and "".join(pieces).strip()
    assert stats.finish_reason in ("stop", "length")


def test_openai_wrong_key_is_401_without_the_key(llama_server: LlamaServer, caplog: pytest.LogCaptureFixture) -> None:
    wrong = "sk-wrong-key-0123456789abcdef"
    with pytest.raises(RemoteError) as info:
        list(remote(llama_server, wrong).stream(QUESTION, max_tokens=4, temperature=0.0))
    assert "the OpenAI key was refused (401)" in str(info.value)
    assert info.value.status == 401
    assert info.value.__cause__ is None and info.value.__context__ is None
    assert wrong not in str(info.value) and wrong not in caplog.text


def test_openai_server_down() -> None:
    settings = Settings(openai_base_url=f"http://127.0.0.1:{free_port()}/v1")
    gen = OpenAICompatible(settings, api_key="sk-unused-key-00000000", key_lookup=lambda: None)
    with pytest.raises(RemoteError, match="could not connect to the OpenAI server at http://127.0.0.1"):
        list(gen.stream(QUESTION, max_tokens=4, temperature=0.0))


def test_openai_without_key_says_how_to_set_one() -> None:
    gen = OpenAICompatible(Settings(openai_base_url="http://127.0.0.1:9/v1"), key_lookup=lambda: None)
    with pytest.raises(RemoteError, match="footnote key set.*OPENAI_API_KEY"):
        list(gen.stream(QUESTION, max_tokens=4, temperature=0.0))


@pytest.fixture
def raw_server() -> Iterator[Callable[[bytes | None], str]]:
    """A real socket server on 127.0.0.1 that sends one canned reply (None: never replies)."""
    socks: list[socket.socket] = []
    threads: list[threading.Thread] = []
    stop = threading.Event()

    def start(reply: bytes | None) -> str:
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        srv.settimeout(10)
        socks.append(srv)

        def serve() -> None:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                except OSError:
                    return
                if reply is None:
                    stop.wait(10)
                    return
                conn.sendall(reply)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        threads.append(t)
        return f"http://127.0.0.1:{srv.getsockname()[1]}/v1"

    yield start
    stop.set()
    for s in socks:
        s.close()
    for t in threads:
        t.join(5)


def _gen(url: str, **kw: float) -> OpenAICompatible:
    return OpenAICompatible(Settings(openai_base_url=url), api_key="sk-raw-server-key-1234", key_lookup=lambda: None, **kw)


def test_openai_broken_stream(raw_server: Callable[[bytes | None], str]) -> None:
    chunk = b'data: {"choices": [{"delta": {"content": "Hel"}}]}\n\n'
    reply = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 500\r\n\r\n" + chunk)
    got: list[str] = []
    with pytest.raises(RemoteError, match="broke off"):
        for piece in _gen(raw_server(reply)).stream(QUESTION, max_tokens=4, temperature=0.0):
            got.append(piece)
    assert got == ["Hel"]


def test_openai_rate_limited(raw_server: Callable[[bytes | None], str]) -> None:
    body = b'{"error": {"message": "Rate limit reached"}}'
    reply = b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    with pytest.raises(RemoteError, match=r"rate limiting.*\(429\).*Rate limit reached"):
        list(_gen(raw_server(reply)).stream(QUESTION, max_tokens=4, temperature=0.0))


def test_openai_timeout(raw_server: Callable[[bytes | None], str]) -> None:
    with pytest.raises(RemoteError, match="stopped responding"):
        list(_gen(raw_server(None), read_timeout=0.5).stream(QUESTION, max_tokens=4, temperature=0.0))


def test_openai_error_never_chains_httpx_exceptions() -> None:
    gen = _gen(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(GenerationError) as info:
        list(gen.stream(QUESTION, max_tokens=4, temperature=0.0))
    assert info.value.__context__ is None
    assert "sk-raw-server-key-1234" not in repr(info.value)


def test_openmp_threads_wait_passively_unless_the_user_chose() -> None:
    """Spinning OpenMP threads cut decode 20-50x while another process uses the CPU."""
    import os

    code = "import core.answer.llama_local, os; print(os.environ.get('OMP_WAIT_POLICY'))"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"
