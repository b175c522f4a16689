"""What the user reads when the keyring cannot help: what is wrong and what to do, never a class
name such as ``fail.Keyring`` or ``KeyringLocked``, never the key."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.backends import fail
from keyring.errors import InitError, KeyringLocked, PasswordSetError

from core import secrets

KEY = "sk-test-messages-5b1e0c9d7a"
CLASS_NAME = re.compile(r"\b\w+\.(Keyring|DBusKeyring|WinVaultKeyring)\b|KeyringLocked|InitError|PasswordSetError")


class Refusing(KeyringBackend):
    """A keyring that exists but raises ``error`` on every call, as a locked or stopped one does."""

    priority = 1  # type: ignore[assignment]

    def __init__(self, error: type[Exception]) -> None:
        super().__init__()
        self.error = error

    def get_password(self, service: str, username: str) -> Any:
        raise self.error("details the user should not need")

    def set_password(self, service: str, username: str, password: str) -> None:
        raise self.error(f"could not store {password}")

    def delete_password(self, service: str, username: str) -> None:
        raise self.error("no")


@pytest.fixture
def use_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    previous = keyring.get_keyring()

    def use(kr: Any) -> None:
        keyring.set_keyring(kr)

    yield use
    keyring.set_keyring(previous)


def test_no_keyring_says_how_to_get_one(use_backend: Any) -> None:
    use_backend(fail.Keyring())
    with pytest.raises(secrets.KeyringUnavailable) as info:
        secrets.set_key(KEY)
    msg = str(info.value)
    assert "no system keyring is available" in msg and "GNOME Keyring or KDE Wallet" in msg
    assert "OPENAI_API_KEY" in msg and not CLASS_NAME.search(msg) and "fail" not in msg
    assert not CLASS_NAME.search(secrets.status().message)


@pytest.mark.parametrize(("error", "words"), [
    (KeyringLocked, "is locked or refused access, so Footnote could not store the key: unlock it"),
    (InitError, "is not running, so Footnote could not store the key: start it"),
    (PasswordSetError, "did not let Footnote store the key: check that it is running and unlocked"),
])
def test_a_keyring_that_fails_says_why_and_what_to_do(use_backend: Any, error: type[Exception], words: str) -> None:
    use_backend(Refusing(error))
    with pytest.raises(secrets.KeyringUnavailable) as info:
        secrets.set_key(KEY)
    msg = str(info.value)
    assert words in msg and "OPENAI_API_KEY" in msg
    assert not CLASS_NAME.search(msg) and "Refusing" not in msg and KEY not in msg
    st = secrets.status()
    assert "read the key" in st.message and not CLASS_NAME.search(st.message)
    with pytest.raises(secrets.KeyringUnavailable, match="remove the key"):
        secrets.delete_key()


def test_known_backends_have_names_people_know() -> None:
    assert secrets.backend_label("SecretService.Keyring") == "GNOME Keyring or KWallet"
    assert secrets.backend_label("macOS.Keyring") == "the macOS Keychain"
    assert secrets.backend_label("Windows.WinVaultKeyring") == "the Windows Credential Manager"
    assert secrets.backend_label("some_plugin.OddKeyring") == "the system keyring"
