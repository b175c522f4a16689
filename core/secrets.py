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
        raise KeyringUnavailable(NO_KEYRING.format(detail=type(exc).__name__)) from None
    if _is_fail(kr):
        raise KeyringUnavailable(NO_KEYRING.format(detail=f"backend {backend_name(kr)}"))
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
        raise KeyringUnavailable(
            NO_KEYRING.format(detail=f"{backend_name(kr)} refused to store it: {type(exc).__name__}")
        ) from None
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
        raise KeyringUnavailable(
            NO_KEYRING.format(detail=f"{backend_name(kr)} failed: {type(exc).__name__}")
        ) from None
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
        msg = NO_KEYRING.format(detail=f"{backend_name(kr)} failed: {type(exc).__name__}")
        return KeyStatus(False, backend_name(kr), env_present, False, msg)
    return KeyStatus(stored, backend_name(kr), env_present, True, "")
