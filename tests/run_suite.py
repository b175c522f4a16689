"""Run the test suite with a real Secret Service, as ``make test`` does.

``make test`` runs ``dbus-run-session -- python tests/run_suite.py [pytest args]``. This script
re-executes itself under a ``dbus-run-session`` of its own (so a desktop user's bus and keyring are
never touched), starts ``gnome-keyring-daemon --unlock --components=secrets`` on that bus with its
keyring files in a throwaway folder, exports what the daemon prints, runs pytest, stops the daemon,
and exits with pytest's code.

The helpers here (``SecretService``, ``LlamaServer``) are also used by test fixtures, so that a plain
``pytest tests/core/test_secrets.py`` starts its own bus and daemon instead of skipping.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

ROOT = Path(__file__).resolve().parent.parent
KEYRING_PASSWORD = "footnote-test-keyring"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _read_lines_until(proc: subprocess.Popen[str], prefix: str, timeout: float) -> list[str]:
    """Lines from the process's stdout until one starts with ``prefix`` (bounded wait)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    lines: list[str] = []
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if line.startswith(prefix):
                return lines
        elif proc.poll() is not None:
            break
    raise RuntimeError(f"no line starting with {prefix!r} within {timeout:g}s (got {lines!r})")


class SecretService:
    """gnome-keyring-daemon's Secret Service on a session bus; a private bus when there is none."""

    def __init__(self, private_bus: bool = False) -> None:
        self.private_bus = private_bus
        self.env: dict[str, str] = {}
        self._procs: list[subprocess.Popen[str]] = []
        self._home = Path(tempfile.mkdtemp(prefix="footnote-keyring-"))

    def start(self) -> SecretService:
        for tool in ("gnome-keyring-daemon", "dbus-daemon"):
            if shutil.which(tool) is None:
                raise RuntimeError(
                    f"{tool} is missing: install the Debian packages gnome-keyring dbus dbus-x11 (make sysdeps)"
                )
        env = dict(os.environ)
        if self.private_bus or not env.get("DBUS_SESSION_BUS_ADDRESS"):
            bus = subprocess.Popen(
                ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            )
            self._procs.append(bus)
            address = _read_lines_until(bus, "unix:", 15)[-1]
            self.env["DBUS_SESSION_BUS_ADDRESS"] = address
            env["DBUS_SESSION_BUS_ADDRESS"] = address
        # Keyring files go to a throwaway folder. XDG_RUNTIME_DIR is left alone: with it set the
        # daemon prints nothing, and the GNOME_KEYRING_CONTROL line is how we know it is up.
        daemon_env = dict(env, XDG_DATA_HOME=str(self._home / "data"))
        daemon_env.pop("XDG_RUNTIME_DIR", None)
        daemon = subprocess.Popen(
            ["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=daemon_env,
        )
        self._procs.append(daemon)
        assert daemon.stdin is not None
        daemon.stdin.write(KEYRING_PASSWORD)
        daemon.stdin.close()
        for line in _read_lines_until(daemon, "GNOME_KEYRING_CONTROL=", 15):
            name, sep, value = line.partition("=")
            if sep and name.isupper():
                self.env[name] = value
        return self

    def stop(self) -> None:
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            for stream in (proc.stdout, proc.stdin):
                if stream is not None and not stream.closed:
                    stream.close()
        self._procs.clear()
        shutil.rmtree(self._home, ignore_errors=True)

    def __enter__(self) -> SecretService:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


# llama_cpp.server builds its own Llama, so the CPU extra-buffer fix from core.generation is
# applied by patching the defaults before the server module runs.
_SERVER_BOOT = (
    "import runpy, sys\n"
    "import llama_cpp.llama as m\n"
    "orig = m.llama_cpp.llama_model_default_params\n"
    "def patched():\n"
    "    p = orig(); p.use_extra_bufts = False; return p\n"
    "m.llama_cpp.llama_model_default_params = patched\n"
    "sys.argv = ['llama_cpp.server', *sys.argv[1:]]\n"
    "runpy.run_module('llama_cpp.server', run_name='__main__', alter_sys=True)\n"
)


class LlamaServer:
    """A real OpenAI-compatible server (``python -m llama_cpp.server``) on 127.0.0.1."""

    def __init__(self, model: Path, api_key: str, log_dir: Path, n_ctx: int = 2048, ready_timeout: float = 120.0) -> None:
        self.model = model
        self.api_key = api_key
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = log_dir / "llama_server.log"
        self.n_ctx = n_ctx
        self.ready_timeout = ready_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: object = None

    def start(self) -> LlamaServer:
        import httpx

        logf = self.log_path.open("wb")
        self._log = logf
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER_BOOT, "--model", str(self.model), "--host", "127.0.0.1",
             "--port", str(self.port), "--api_key", self.api_key, "--n_ctx", str(self.n_ctx),
             "--model_alias", "smollm2"],
            stdout=logf, stderr=subprocess.STDOUT, cwd=str(self.log_path.parent),
        )
        deadline = time.monotonic() + self.ready_timeout
        headers = {"Authorization": f"Bearer {self.api_key}"}
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited with {self._proc.returncode}; see {self.log_path}")
            try:
                if httpx.get(f"{self.base_url}/models", headers=headers, timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"llama_cpp.server not ready within {self.ready_timeout:g}s; see {self.log_path}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None
        close = getattr(self._log, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> LlamaServer:
        return self.start()

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def main() -> int:
    # Always run on a bus of our own: started from a desktop session, the daemon must not meet the
    # user's real keyring. Under `make test` this nests one more private bus, which is harmless.
    if os.environ.get("FOOTNOTE_SUITE_BUS") != "1" and shutil.which("dbus-run-session"):
        os.environ["FOOTNOTE_SUITE_BUS"] = "1"
        os.execvp("dbus-run-session", ["dbus-run-session", "--", sys.executable, *sys.argv])
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    import pytest

    service = SecretService().start()
    os.environ.update(service.env)
    os.environ["FOOTNOTE_SECRET_SERVICE"] = "1"
    try:
        code = pytest.main(sys.argv[1:] or ["tests"])
    finally:
        service.stop()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
