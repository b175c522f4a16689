"""The OpenAI key, kept in the OS keyring and nowhere else.

The key is never written to a file, a log line, argv or an exception message: this module only
ever logs whether a key exists and which keyring backend holds it. When no usable keyring backend
exists (``keyring.backends.fail.Keyring``, a locked or missing Secret Service), the user is told so
plainly and ``OPENAI_API_KEY`` from the environment is accepted instead.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Any

from core.errors import FootnoteError

log = logging.getLogger(__name__)

SERVICE = "Footnote"
USERNAME = "openai_api_key"
ENV_VAR = "OPENAI_API_KEY"
NO_KEYRING = (
    "no system keyring is available ({detail}); set OPENAI_API_KEY in the environment instead"
)
#: What a user knows each keyring backend as; the dotted class name stays in logs and ``--json``.
BACKEND_LABELS = {
    "SecretService.Keyring": "GNOME Keyring or KWallet",
    "libsecret.Keyring": "GNOME Keyring or KWallet",
    "kwallet.DBusKeyring": "KDE Wallet",
    "macOS.Keyring": "the macOS Keychain",
    "Windows.WinVaultKeyring": "the Windows Credential Manager",
    "chainer.ChainerBackend": "the system keyring",
}
NONE_FOUND = "none was found on this computer: install and unlock one, such as GNOME Keyring or KDE Wallet"
#: A keyring exists but did not do what was asked; ``{detail}`` says why and what to do (``_reason``).
KEYRING_FAILED = "{detail}; or set OPENAI_API_KEY in the environment instead"


class KeyringUnavailable(FootnoteError):
    """No usable keyring backend; the message points at ``OPENAI_API_KEY``."""


@dataclass(frozen=True)
class KeyStatus:
    """Where the key would come from; carries no part of the key itself."""

    stored: bool
    backend: str
    env_present: bool
    usable_keyring: bool
    message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "backend": self.backend,
            "env_present": self.env_present,
            "usable_keyring": self.usable_keyring,
            "message": self.message,
        }


def _backend() -> Any:
    import keyring

    return keyring.get_keyring()


def backend_name(kr: Any | None = None) -> str:
    """Dotted name like ``SecretService.Keyring``, the way ``keyring --list-backends`` shows it."""
    kr = kr if kr is not None else _backend()
    module = type(kr).__module__.removeprefix("keyring.backends.")
    return f"{module}.{type(kr).__name__}"


def backend_label(name: str) -> str:
    """The keyring as the user knows it ("KDE Wallet"), never a class name like ``fail.Keyring``."""
    return BACKEND_LABELS.get(name, "the system keyring")


def _reason(kr: Any, exc: BaseException, doing: str) -> str:
    """Why the keyring could not ``doing`` (store the key, read it...), and what to do about it,
    in words: the exception's class decides the sentence, its text is never shown."""
    label = backend_label(backend_name(kr))
    label = label[:1].upper() + label[1:]
    kind = type(exc).__name__.lower()
    if "lock" in kind or "denied" in kind or "dismiss" in kind:
        return f"{label} is locked or refused access, so Footnote could not {doing}: unlock it and try again"
    if "init" in kind or "dbus" in kind or "connect" in kind or "service" in kind:
        return f"{label} is not running, so Footnote could not {doing}: start it or log in again, then try again"
    return f"{label} did not let Footnote {doing}: check that it is running and unlocked, then try again"


def _is_fail(kr: Any) -> bool:
    from keyring.backends import fail

    if isinstance(kr, fail.Keyring):
        return True
    # A chainer with nothing behind it is as good as none.
    backends = getattr(kr, "backends", None)
    return backends is not None and len(backends) == 0


def _usable() -> Any:
    try:
        kr = _backend()
    except Exception as exc:  # keyring's own backend discovery can fail in odd environments
        log.warning("keyring discovery failed error=%s", type(exc).__name__)
        raise KeyringUnavailable(NO_KEYRING.format(detail=NONE_FOUND)) from None
    if _is_fail(kr):
        log.info("no keyring backend=%s", backend_name(kr))
        raise KeyringUnavailable(NO_KEYRING.format(detail=NONE_FOUND))
    return kr


def set_key(key: str) -> str:
    """Store the key; returns the backend name. Raises KeyringUnavailable with a clear message."""
    key = key.strip()
    if not key:
        raise FootnoteError("the OpenAI key is empty; nothing was stored")
    kr = _usable()
    try:
        kr.set_password(SERVICE, USERNAME, key)
    except Exception as exc:
        # The exception text of some backends can echo arguments; keep only the type.
        log.warning("keyring store failed backend=%s error=%s", backend_name(kr), type(exc).__name__)
        raise KeyringUnavailable(KEYRING_FAILED.format(detail=_reason(kr, exc, "store the key"))) from None
    log.info("openai key stored backend=%s", backend_name(kr))
    return backend_name(kr)


def stored_key() -> str | None:
    """The key from the keyring, or None when absent or when no keyring is usable."""
    try:
        kr = _usable()
        value = kr.get_password(SERVICE, USERNAME)
    except KeyringUnavailable:
        return None
    except Exception as exc:
        log.warning("keyring read failed error=%s", type(exc).__name__)
        return None
    return str(value) if value else None


def get_key() -> str | None:
    """Keyring first, then ``OPENAI_API_KEY``; None when neither has one."""
    key = stored_key()
    if key:
        return key
    env = os.environ.get(ENV_VAR, "").strip()
    return env or None


def delete_key() -> bool:
    """Remove the stored key; returns whether one was there."""
    kr = _usable()
    try:
        if kr.get_password(SERVICE, USERNAME) is None:
            return False
        kr.delete_password(SERVICE, USERNAME)
    except Exception as exc:
        from keyring.errors import PasswordDeleteError

        if isinstance(exc, PasswordDeleteError):
            return False
        log.warning("keyring delete failed backend=%s error=%s", backend_name(kr), type(exc).__name__)
        raise KeyringUnavailable(KEYRING_FAILED.format(detail=_reason(kr, exc, "remove the key"))) from None
    log.info("openai key deleted backend=%s", backend_name(kr))
    return True


def status() -> KeyStatus:
    """Whether a key is stored and in which backend; never reveals the key."""
    env_present = bool(os.environ.get(ENV_VAR, "").strip())
    try:
        kr = _usable()
    except KeyringUnavailable as exc:
        name = "unavailable"
        try:
            name = backend_name()
        except Exception:
            pass
        return KeyStatus(False, name, env_present, False, str(exc))
    try:
        stored = kr.get_password(SERVICE, USERNAME) is not None
    except Exception as exc:
        log.warning("keyring read failed backend=%s error=%s", backend_name(kr), type(exc).__name__)
        msg = KEYRING_FAILED.format(detail=_reason(kr, exc, "read the key"))
        return KeyStatus(False, backend_name(kr), env_present, False, msg)
    return KeyStatus(stored, backend_name(kr), env_present, True, "")


# -- the local API's bearer token ---------------------------------------------------------------

API_TOKEN_USERNAME = "api_token"
API_TOKEN_ENV = "FOOTNOTE_API_TOKEN"
NO_KEYRING_FOR_API = (
    "the local API needs a token and no system keyring is available to keep one ({detail}); "
    "set FOOTNOTE_API_TOKEN to the token the API should accept"
)


def _new_api_token() -> str:
    import secrets as _random

    return "fn-" + _random.token_urlsafe(32)


def api_token(create: bool = True) -> str:
    """The token the local API accepts: ``FOOTNOTE_API_TOKEN`` when set, else the keyring's
    (generated and stored on first use when ``create``). Raises KeyringUnavailable when neither
    can give one; never logs the token."""
    env = os.environ.get(API_TOKEN_ENV, "").strip()
    if env:
        return env
    try:
        kr = _usable()
    except KeyringUnavailable:
        raise KeyringUnavailable(NO_KEYRING_FOR_API.format(detail=NONE_FOUND)) from None
    try:
        value = kr.get_password(SERVICE, API_TOKEN_USERNAME)
    except Exception as exc:
        log.warning("keyring read failed item=api_token backend=%s error=%s", backend_name(kr), type(exc).__name__)
        raise KeyringUnavailable(NO_KEYRING_FOR_API.format(detail=_reason(kr, exc, "read the API token"))) from None
    if value:
        return str(value)
    if not create:
        raise FootnoteError("no API token has been generated yet")
    return regenerate_api_token()


def regenerate_api_token() -> str:
    """A fresh token in the keyring, replacing the old one (clients holding it get 401 from now on)."""
    try:
        kr = _usable()
    except KeyringUnavailable:
        raise KeyringUnavailable(NO_KEYRING_FOR_API.format(detail=NONE_FOUND)) from None
    token = _new_api_token()
    try:
        kr.set_password(SERVICE, API_TOKEN_USERNAME, token)
    except Exception as exc:
        log.warning("keyring write failed item=api_token backend=%s error=%s", backend_name(kr), type(exc).__name__)
        raise KeyringUnavailable(NO_KEYRING_FOR_API.format(detail=_reason(kr, exc, "store the API token"))) from None
    log.info("api token generated backend=%s", backend_name(kr))
    return token
