"""The API token: generated once into the real keyring, replaced on request, overridden by
FOOTNOTE_API_TOKEN; without a keyring and without the variable nothing starts (one clear line)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core import secrets
from tests.run_suite import ROOT


@pytest.fixture
def fresh_token(secret_service: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(secrets.API_TOKEN_ENV, raising=False)
    import keyring

    kr = keyring.get_keyring()
    try:
        kr.delete_password(secrets.SERVICE, secrets.API_TOKEN_USERNAME)
    except Exception:  # noqa: BLE001 - none stored yet
        pass
    yield


def test_token_is_generated_once_and_regenerated_on_request(fresh_token: None) -> None:
    first = secrets.api_token()
    assert first.startswith("fn-") and len(first) > 30
    assert secrets.api_token() == first  # kept in the keyring, not made again
    assert secrets.stored_key() != first  # a second entry beside the OpenAI key
    new = secrets.regenerate_api_token()
    assert new != first and secrets.api_token() == new


def test_the_environment_variable_wins(fresh_token: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(secrets.API_TOKEN_ENV, "fn-from-the-environment")
    assert secrets.api_token() == "fn-from-the-environment"


def _footnote(data: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "desktop.main", "--data-dir", str(data), *args], cwd=str(ROOT),
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_serve_without_keyring_or_token_refuses_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != secrets.API_TOKEN_ENV}
    env["PYTHON_KEYRING_BACKEND"] = "keyring.backends.fail.Keyring"
    proc = _footnote(tmp_path / "data", "serve", env=env)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert err.strip().count("\n") == 0 and "FOOTNOTE_API_TOKEN" in err and "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_footnote_serve_holds_the_library_and_never_logs_the_token(tmp_path: Path) -> None:
    token = "fn-serve-test-token-9d8c7b6a5f4e3d2c"
    env = dict(os.environ, PYTHON_KEYRING_BACKEND="keyring.backends.fail.Keyring")
    env[secrets.API_TOKEN_ENV] = token
    data = tmp_path / "data"
    port = _free_port()
    proc = _footnote(data, "serve", "--port", str(port), env=env)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the server accepts connections
        assert f"http://127.0.0.1:{port}/v1" in line, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=url, timeout=60) as c:
            assert c.get("/v1/models").status_code == 401
            assert c.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
            assert c.get("/v1/documents", headers={"Authorization": f"Bearer {token}"}).json() == {
                "object": "list", "data": []}
        other = subprocess.run([sys.executable, "-m", "desktop.main", "--data-dir", str(data), "list"], cwd=str(ROOT),
                               env=env, text=True, capture_output=True, timeout=120)
        assert other.returncode == 3, other.stderr  # the library is held by the server
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    log = (data / "footnote.log").read_text(encoding="utf-8")
    assert "api listening" in log and token not in log


def test_a_port_in_use_is_one_clear_error_and_stop_frees_it() -> None:
    """The window turns the switch off and on: a stopped server frees its port at once."""
    from desktop.api import ApiServer
    from desktop.api.server import ServerStartError

    async def app(scope: object, receive: object, send: object) -> None:  # the smallest ASGI app
        raise RuntimeError("not called")

    port = _free_port()
    first = ApiServer(app, "127.0.0.1", port)
    first.start()
    try:
        with pytest.raises(ServerStartError, match=f"127.0.0.1:{port}: .*in use"):
            ApiServer(app, "127.0.0.1", port).start()
    finally:
        assert first.stop()
    again = ApiServer(app, "127.0.0.1", port)
    again.start()
    assert again.stop()
