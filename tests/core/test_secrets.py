"""The OpenAI key in a real Secret Service (gnome-keyring-daemon), and the no-keyring path."""

from __future__ import annotations

from collections.abc import Iterator

import keyring
import pytest
from keyring.backends import fail

from core import secrets
from core.errors import FootnoteError

KEY = "sk-secret-service-test-9f8e7d6c5b4a3921"


@pytest.fixture
def clean_keyring(secret_service: dict[str, str]) -> Iterator[None]:
    secrets.delete_key()
    yield
    secrets.delete_key()


def test_backend_is_the_secret_service(clean_keyring: None) -> None:
    assert secrets.backend_name() == "SecretService.Keyring"


def test_set_get_status_delete(clean_keyring: None, no_env_key: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    assert secrets.status().stored is False
    assert secrets.set_key(f"  {KEY}\n") == "SecretService.Keyring"
    assert secrets.get_key() == KEY
    st = secrets.status()
    assert st.stored and st.usable_keyring and st.backend == "SecretService.Keyring"
    assert KEY not in repr(st) and KEY not in str(st.as_dict())
    assert secrets.delete_key() is True
    assert secrets.delete_key() is False
    assert secrets.get_key() is None
    assert KEY not in caplog.text


def test_stored_key_wins_over_environment(clean_keyring: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-000000000000")
    assert secrets.get_key() == "sk-from-env-000000000000"
    secrets.set_key(KEY)
    assert secrets.get_key() == KEY
    assert secrets.status().env_present


def test_empty_key_is_refused(clean_keyring: None) -> None:
    with pytest.raises(FootnoteError, match="empty"):
        secrets.set_key("   ")


@pytest.fixture
def fail_backend() -> Iterator[None]:
    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        yield
    finally:
        keyring.set_keyring(previous)


def test_fail_backend_gives_clear_message(fail_backend: None, no_env_key: None) -> None:
    with pytest.raises(secrets.KeyringUnavailable) as info:
        secrets.set_key(KEY)
    msg = str(info.value)
    assert "no system keyring is available" in msg and "set OPENAI_API_KEY in the environment instead" in msg
    assert KEY not in msg
    st = secrets.status()
    assert not st.stored and not st.usable_keyring and st.backend == "fail.Keyring"
    assert "OPENAI_API_KEY" in st.message
    assert secrets.get_key() is None
    with pytest.raises(secrets.KeyringUnavailable):
        secrets.delete_key()


def test_fail_backend_falls_back_to_environment(fail_backend: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert secrets.get_key() == KEY
    assert secrets.status().env_present
