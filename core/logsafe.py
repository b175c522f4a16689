"""Keep secrets out of URLs we store and out of every log line, whoever wrote it.

Two lists of query parameter names, because the two uses differ in what over-redaction costs:

- ``CREDENTIAL_PARAMS`` are unambiguous credentials (``token``, ``api_key``, ``X-Amz-Signature``...).
  Their values are redacted even in a document's stored source, which is the document's identity:
  two links that differ only by a rotating signature are the same page.
- ``LOG_PARAMS`` adds names that are often but not always secret (``code``, ``key``, ``session``).
  Redacting them in a stored source could merge different pages (``?code=FR`` and ``?code=DE``), so
  they are redacted only in logs, where a lost value costs nothing.

User info (``user:password@``) is removed everywhere. ``install`` puts ``RedactingFilter`` on every
root handler, so a URL in any message, argument or traceback (httpx's included) is cleaned before
it is written, and it keeps httpx's and httpcore's per-request INFO lines out of the log.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit, urlunsplit

LOG_FILE = "footnote.log"
REDACTED = "REDACTED"

CREDENTIAL_PARAMS = frozenset(
    """token access_token refresh_token id_token auth_token api_key apikey api_token access_key secret
    client_secret password passwd pwd auth authorization sig signature jwt sessionid session_id jsessionid
    phpsessid x-amz-signature x-amz-credential x-amz-security-token x-goog-signature x-goog-credential
    awsaccesskeyid""".split()
)
LOG_PARAMS = CREDENTIAL_PARAMS | frozenset("key code session sid ticket otp private_token state".split())
_CREDENTIAL_SUFFIXES = ("_token", "_secret", "_password", "_signature", "_apikey", "_api_key")

_URL = re.compile(r"""\b[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>`]+""")
_USERINFO = re.compile(r"(?<=://)[^/?#@\s]*@")
# Tokens that carry no URL around them: OpenAI-style keys and HTTP authorisation headers.
_BARE = [
    (re.compile(r"\bsk-[A-Za-z0-9_-]{8,}"), "sk-" + REDACTED),
    (re.compile(r"(?i)\b(authorization|proxy-authorization)(['\"]?\s*[:=,]\s*['\"]?)((?:bearer|basic)\s+)?[^\s'\",)]+"),
     r"\1\2\3" + REDACTED),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}"), "Bearer " + REDACTED),
]


def is_secret_param(name: str, *, strict: bool = True) -> bool:
    """Whether a query parameter's value should be hidden; ``strict`` is the stored-source list."""
    key = name.strip().lower().replace("-", "_") if name else ""
    names = CREDENTIAL_PARAMS if strict else LOG_PARAMS
    return key in names or key.replace("_", "-") in names or key.endswith(_CREDENTIAL_SUFFIXES)


def redact_query(query: str, *, strict: bool = True) -> str:
    """``a=1&token=xyz`` -> ``a=1&token=REDACTED``; the order and the other values are kept as written."""
    if not query:
        return query
    out: list[str] = []
    for part in query.split("&"):
        name, eq, _value = part.partition("=")
        if eq and is_secret_param(unquote_plus(name), strict=strict):
            out.append(f"{name}={REDACTED}")
        else:
            out.append(part)
    return "&".join(out)


def redact_url(url: str, *, strict: bool = False) -> str:
    """A URL with no user info and no secret query (or fragment) values. Never raises."""
    cleaned = _USERINFO.sub("", url)
    try:
        parts = urlsplit(cleaned)
    except ValueError:
        return cleaned
    query = redact_query(parts.query, strict=strict)
    fragment = redact_query(parts.fragment, strict=strict) if "=" in parts.fragment else parts.fragment
    if query == parts.query and fragment == parts.fragment:
        return cleaned
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, fragment))


def redact_text(text: str) -> str:
    """Every URL in ``text`` redacted (log strictness), and bare keys and authorisation headers."""
    if "://" in text:
        text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    for pattern, replacement in _BARE:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack text with secrets removed.

    It sits on handlers, not loggers: a logger's filter sees only records logged to that logger,
    while a handler's sees every record that reaches it, from any library."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as it would
            return True
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


_QUIET = ("httpx", "httpcore", "urllib3")


def install(root: logging.Logger | None = None) -> None:
    """Put the redacting filter on every handler of ``root`` (idempotent; call again after adding one)
    and keep HTTP libraries' per-request lines (which carry full URLs) below WARNING out."""
    root = root if root is not None else logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    for name in _QUIET:
        lib = logging.getLogger(name)
        if lib.level == logging.NOTSET or lib.level < logging.WARNING:
            lib.setLevel(logging.WARNING)


def install_file_log(data_dir: Path) -> logging.Handler:
    """Everything at INFO and above goes to ``footnote.log`` in the data folder, secrets removed.

    Raises ``OSError`` when the folder cannot be created or the file opened."""
    data_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        data_dir / LOG_FILE, maxBytes=2_000_000, backupCount=2, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.setLevel(logging.INFO)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        # Keep stderr as quiet as main.py asked; the file still gets INFO.
        for h in root.handlers:
            if h is not handler and h.level == logging.NOTSET:
                h.setLevel(root.level or logging.WARNING)
        root.setLevel(logging.INFO)
    install(root)
    return handler
