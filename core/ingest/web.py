"""Import web pages: fetch one URL, or crawl a small same-site neighbourhood of it.

Everything that can go wrong with a link becomes one ``LoadError`` naming the URL and a reason a
person can act on; nothing here raises httpx errors. Redirects are followed by hand so that a
server cannot bounce us to ``file://`` or around a loop, and the size cap is enforced while
streaming, so a huge or endless response never sits in memory.

``robots.txt`` is honoured for single pages as well as crawls: importing a page and crawling it at
depth 0 give the same answer.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import SplitResult, quote, unquote, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx

from core.documents import Extracted
from core.errors import LoadError
from core.ingest.htmltext import extract_html, links, meta_charset
from core.ingest.loaders import decode_text
from core.logsafe import redact_query, redact_url

log = logging.getLogger(__name__)

USER_AGENT = "Footnote/0.1 (+desktop knowledge assistant)"
MAX_BYTES = 10 * 1024 * 1024
MAX_ROBOTS_BYTES = 512 * 1024
HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
TEXT_TYPES = frozenset({"text/plain"})
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Links a crawl skips without asking: they are files, not pages.
SKIP_SUFFIXES = tuple(
    ".png .jpg .jpeg .gif .webp .svg .ico .bmp .tif .tiff .pdf .zip .gz .tgz .bz2 .xz .7z .rar .tar .exe .dmg"
    " .msi .deb .rpm .apk .iso .mp3 .mp4 .m4a .ogg .wav .avi .mov .mkv .webm .css .js .json .xml .rss .atom"
    " .woff .woff2 .ttf .doc .docx .xls .xlsx .ppt .pptx .epub".split()
)
_DOWNLOAD_HINTS = {
    "application/pdf": "; download it and import the file instead",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "; download it and import the file instead",
}
_BASE_HREF = re.compile(r"""<base\s[^>]*href\s*=\s*["']?([^"'\s>]+)""", re.I)
_PATH_SAFE = "/%:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?"


# -- URLs ------------------------------------------------------------------------------------------


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4 for absolute paths: ``/a/./b/../c`` -> ``/a/c``."""
    segments = path.split("/")
    out: list[str] = []
    for seg in segments:
        if seg == "..":
            if len(out) > 1:
                out.pop()
        elif seg != ".":
            out.append(seg)
    if segments[-1] in (".", ".."):
        out.append("")
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def normalise_url(url: str) -> str:
    """The canonical, public form of a link: the document's source key, and what is shown and logged.

    Lowercases scheme and host, drops the fragment and a default port, resolves ``.``/``..``
    segments, percent-encodes characters that must be, and keeps the query. It keeps no secret:
    user info (``user:password@``) is dropped and the values of credential parameters (``token``,
    ``sig``, ``X-Amz-Signature``..., see ``core.logsafe``) read ``REDACTED``; the request itself
    still uses them (``_request_url``, ``_SiteAuth``). Never raises: a string that is not an
    http(s) URL comes back tidied as far as possible, and ``fetch`` reports it.
    """
    return _canonical(url, public=True)


def _request_url(url: str) -> str:
    """The canonical form a request is sent to: ``normalise_url`` with the query's secrets kept
    (user info still goes, as ``_SiteAuth``)."""
    return _canonical(url, public=False)


def _canonical(url: str, *, public: bool) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return redact_url(url, strict=True)
    scheme = parts.scheme.lower()
    query = redact_query(parts.query, strict=True) if public else parts.query
    bare_netloc = parts.netloc.rpartition("@")[2]
    if scheme not in DEFAULT_PORTS or not parts.netloc:
        return urlunsplit((scheme, bare_netloc, parts.path, query, ""))
    try:
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # a port that is not a number: leave the address as written
        return urlunsplit((scheme, bare_netloc.lower(), parts.path or "/", query, ""))
    if ":" in host:
        host = f"[{host}]"
    netloc = host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{host}:{port}"
    path = quote(_remove_dot_segments(parts.path or "/"), safe=_PATH_SAFE)
    return urlunsplit((scheme, netloc, path, quote(query, safe=_QUERY_SAFE), ""))


@dataclass(frozen=True)
class _SiteAuth:
    """Credentials written in the link itself (``https://user:pass@host/``). They are sent, as HTTP
    basic auth, to that origin only (robots.txt included; never to a redirect elsewhere) and are
    never part of a stored, shown or logged URL."""

    origin: tuple[str, str, int | None]
    auth: httpx.BasicAuth

    def for_url(self, url: str) -> httpx.BasicAuth | None:
        return self.auth if _origin(urlsplit(url)) == self.origin else None


def _site_auth(url: str) -> _SiteAuth | None:
    try:
        parts = urlsplit(url.strip())
        user, password = parts.username, parts.password
    except ValueError:
        return None
    if not user and not password:
        return None
    return _SiteAuth(_origin(parts), httpx.BasicAuth(unquote(user or ""), unquote(password or "")))


def _redact(url: str) -> str:
    """A URL fit for logs: no password, no query values (either may carry a token)."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "…" if parts.query else "", ""))


def _origin(parts: SplitResult) -> tuple[str, str, int | None]:
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or DEFAULT_PORTS.get(scheme)


def _check_url(source: str) -> None:
    try:
        parts = urlsplit(source)
    except ValueError:
        raise LoadError(source, "this is not a valid link") from None
    if parts.scheme not in DEFAULT_PORTS:
        raise LoadError(source, "only http and https links can be imported")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise LoadError(source, "this is not a valid link (the port is not a number)") from None
    if not parts.hostname:
        raise LoadError(source, "this is not a valid link (it has no server name)")


# -- HTTP ------------------------------------------------------------------------------------------


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.3g} MB"
    if n >= 1024:
        return f"{n / 1024:.3g} KB"
    return f"{n} bytes"


class _Deadline:
    """One page's whole budget: connect, response headers, body, redirects and robots.txt together.

    httpx's timeouts are per read, so a server that sends a byte just before each one expires
    holds a download open forever. Every socket a request opens is registered here (through
    httpcore's ``trace`` extension, and the response's ``network_stream``); when the budget runs
    out a timer shuts them down, which wakes the blocked read at once, and ``expired`` tells the
    caller why the connection broke. Each phase's own timeout is also clamped to what is left, so
    a connect that has not produced a socket yet cannot outlive the budget either.
    """

    def __init__(self, total: float) -> None:
        self.total = total
        self.at = time.monotonic() + total
        self.expired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(total, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def left(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def reason(self) -> str:
        return f"the server did not send the whole page within {_seconds(self.total)}"

    def trace(self, event: str, info: dict[str, object]) -> None:
        """httpcore's trace hook: catch each new connection's socket (plain, then TLS)."""
        if event.endswith(("connect_tcp.complete", "start_tls.complete")):
            self.watch(info.get("return_value"))

    def watch(self, stream: object) -> None:
        get = getattr(stream, "get_extra_info", None)
        sock = get("socket") if callable(get) else None
        if not isinstance(sock, socket.socket):
            return
        try:
            # A duplicate refers to the same connection and survives the TLS wrap replacing the object.
            dup = sock.dup()
        except OSError:
            return
        with self._lock:
            self._sockets.append(dup)
            if self.expired:
                _shut(dup)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()

    def __enter__(self) -> _Deadline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already closed by the other side
        pass


def _timeout(timeout: float, deadline: _Deadline | None = None) -> httpx.Timeout:
    if deadline is not None:
        timeout = max(0.001, min(timeout, deadline.left()))
    return httpx.Timeout(connect=timeout, read=timeout, write=timeout, pool=timeout)


def _new_client(timeout: float) -> httpx.Client:
    # No keep-alive: every request opens its own connection, so the deadline sees its socket.
    return httpx.Client(timeout=_timeout(timeout), follow_redirects=False, headers={"User-Agent": USER_AGENT},
                        limits=httpx.Limits(max_keepalive_connections=0))


class _RedirectRefused(LoadError):
    """A redirect we will not follow (bad scheme, loop, too many); the server itself is reachable."""


@dataclass
class _Page:
    url: str  # after redirects
    media_type: str
    charset: str | None
    body: bytes


def _transport_error(
    source: str, url: str, exc: httpx.HTTPError, timeout: float, deadline: _Deadline | None = None
) -> LoadError:
    host = urlsplit(url).hostname or url
    if deadline is not None and (deadline.expired or deadline.left() <= 0):
        return LoadError(source, deadline.reason())
    if isinstance(exc, httpx.TimeoutException):
        if isinstance(exc, httpx.ConnectTimeout):
            return LoadError(source, f"could not connect to {host} (no answer within {_seconds(timeout)})")
        return LoadError(source, f"the server did not answer within {_seconds(timeout)}")
    text = str(exc).lower()
    if isinstance(exc, httpx.ConnectError):
        if (
            "name or service not known" in text
            or "nodename nor servname" in text
            or "name resolution" in text
            or "getaddrinfo" in text
            or "no address associated" in text
        ):
            return LoadError(source, f"could not connect to {host} (the name could not be found; check the address)")
        if "refused" in text:
            return LoadError(source, f"could not connect to {host} (the connection was refused)")
        if "certificate" in text or "ssl" in text:
            return LoadError(source, f"could not connect securely to {host} (its certificate could not be verified)")
        return LoadError(source, f"could not connect to {host}")
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.InvalidURL)):
        return LoadError(source, "this is not a valid link")
    if isinstance(exc, httpx.RemoteProtocolError):
        return LoadError(
            source, "the server sent a broken answer (the connection closed early or the reply was invalid)"
        )
    if isinstance(exc, httpx.DecodingError):
        return LoadError(source, "the server sent a page that could not be decompressed")
    if isinstance(exc, (httpx.ReadError, httpx.WriteError, httpx.NetworkError)):
        return LoadError(source, "the connection broke while downloading the page")
    return LoadError(source, f"the download failed ({type(exc).__name__})")


def _status_text(response: httpx.Response) -> str:
    phrase = response.reason_phrase
    if not phrase:
        try:
            phrase = HTTPStatus(response.status_code).phrase
        except ValueError:
            phrase = ""
    return f"{response.status_code} {phrase}".strip()


def _open(
    client: httpx.Client, source: str, url: str, timeout: float, max_redirects: int, deadline: _Deadline,
    auth: _SiteAuth | None = None,
) -> httpx.Response:
    """Send GET, following redirects by hand. Returns an open streamed response the caller closes."""
    visited = {url}
    redirects = 0
    while True:
        if deadline.left() <= 0:
            raise LoadError(source, deadline.reason())
        try:
            request = client.build_request("GET", url, timeout=_timeout(timeout, deadline),
                                           extensions={"trace": deadline.trace})
            if request.headers.get("user-agent", "").startswith("python-httpx"):
                request.headers["User-Agent"] = USER_AGENT  # a caller's plain client still says who we are
            basic = auth.for_url(url) if auth is not None else None
            if basic is not None:
                response = client.send(request, stream=True, follow_redirects=False, auth=basic)
            else:
                response = client.send(request, stream=True, follow_redirects=False)
        except httpx.HTTPError as exc:
            raise _transport_error(source, url, exc, timeout, deadline) from None
        # A caller's client may reuse a kept-alive connection, which opens no socket to trace.
        deadline.watch(response.extensions.get("network_stream"))
        location = response.headers.get("location")
        if response.status_code not in REDIRECT_CODES or not location:
            return response
        set_cookie = "set-cookie" in response.headers
        response.close()
        target = urljoin(url, location.strip())
        scheme = urlsplit(target).scheme.lower()
        if scheme not in DEFAULT_PORTS:
            shown = f"{scheme}://" if target.lower().startswith(f"{scheme}://") else f"{scheme}:"
            log.warning("redirect refused url=%s scheme=%s", _redact(url), scheme)
            raise _RedirectRefused(source, f"redirected to a {shown} address, which is not allowed")
        target = _request_url(target)
        redirects += 1
        # A redirect back to a page already seen is a loop, unless it set a cookie (login/consent hops).
        if target in visited and not set_cookie:
            raise _RedirectRefused(source, f"the server redirects in a loop (back to {normalise_url(target)})")
        if redirects > max_redirects:
            raise _RedirectRefused(source, f"too many redirects (more than {max_redirects})")
        log.debug("redirect from=%s to=%s status=%d", _redact(url), _redact(target), response.status_code)
        visited.add(target)
        url = target


def _read_capped(response: httpx.Response, source: str, max_bytes: int, deadline: _Deadline) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise LoadError(source, f"the page is too large (over {_size(max_bytes)})")
    buf = bytearray()
    for chunk in response.iter_bytes():
        buf += chunk
        if len(buf) > max_bytes:
            raise LoadError(source, f"the page is too large (over {_size(max_bytes)})")
        if deadline.left() <= 0:
            raise LoadError(source, deadline.reason())
    # A body without a length ends when the connection closes, which is also what the deadline does.
    if deadline.expired:
        raise LoadError(source, deadline.reason())
    return bytes(buf)


def _page_deadline(timeout: float) -> _Deadline:
    """Per read, ``timeout``; for the whole page (robots.txt included), four times that."""
    return _Deadline(timeout * 4)


def _get_page(
    client: httpx.Client, source: str, timeout: float, max_bytes: int, max_redirects: int, deadline: _Deadline,
    url: str | None = None, auth: _SiteAuth | None = None,
) -> _Page:
    """Download ``url`` (default: ``source``, the public name errors carry) as a page: redirects,
    status, content type and size all checked."""
    response = _open(client, source, url or source, timeout, max_redirects, deadline, auth)
    try:
        final = normalise_url(str(response.url))
        if not 200 <= response.status_code < 300:
            raise LoadError(source, f"the server answered {_status_text(response)}")
        content_type = response.headers.get("content-type", "")
        media_type = content_type.split(";")[0].strip().lower() or "text/html"
        if media_type not in HTML_TYPES and media_type not in TEXT_TYPES:
            hint = _DOWNLOAD_HINTS.get(media_type, "")
            raise LoadError(source, f"this link serves {media_type}, not a web page{hint}")
        try:
            body = _read_capped(response, source, max_bytes, deadline)
        except httpx.HTTPError as exc:
            raise _transport_error(source, final, exc, timeout, deadline) from None
        return _Page(url=final, media_type=media_type, charset=response.charset_encoding, body=body)
    finally:
        response.close()


def _extract(page: _Page, source: str) -> tuple[Extracted, str]:
    declared = page.charset
    if declared is None and page.media_type in HTML_TYPES:
        declared = meta_charset(page.body)
    text = decode_text(page.body, source, declared)
    if page.media_type in TEXT_TYPES:
        parts = urlsplit(source)
        title = parts.path.rstrip("/").rpartition("/")[2] or parts.hostname or source
        extracted = Extracted(source=source, title=title, text=text, kind="text")
    else:
        extracted = extract_html(text, source)
        if not extracted.title:
            parts = urlsplit(source)
            extracted.title = (parts.hostname or "") + (parts.path if parts.path != "/" else "")
    if not extracted.text.strip():
        raise LoadError(source, "no text found on the page")
    return extracted, text


# -- robots.txt ------------------------------------------------------------------------------------


class _Robots:
    """Per-site robots.txt rules, fetched once per crawl or fetch."""

    def __init__(self, client: httpx.Client, timeout: float, auth: _SiteAuth | None = None) -> None:
        self._client = client
        self._timeout = timeout
        self._auth = auth
        self._sites: dict[tuple[str, str, int | None], Callable[[str], bool]] = {}

    def allowed(self, url: str, deadline: _Deadline) -> bool:
        """Whether ``url`` may be fetched. Raises ``LoadError`` (for ``url``'s public form) if its
        server is unreachable. Fetching robots.txt spends the page's own ``deadline``."""
        key = _origin(urlsplit(url))
        rule = self._sites.get(key)
        if rule is None:
            rule = self._sites[key] = self._load(url, deadline)
        return rule(url)

    def _load(self, url: str, deadline: _Deadline) -> Callable[[str], bool]:
        page = normalise_url(url)
        parts = urlsplit(url)
        robots_url = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
        try:
            response = _open(self._client, page, robots_url, self._timeout, 5, deadline, self._auth)
        except _RedirectRefused as exc:
            log.info("robots.txt ignored url=%s reason=%s", _redact(robots_url), exc.reason)
            return _allow_all
        # Any other LoadError means the server is unreachable: the page would fail the same way.
        try:
            status = response.status_code
            if status in (401, 403):
                log.info("robots.txt forbidden url=%s status=%d", _redact(robots_url), status)
                return _deny_all
            if not 200 <= status < 300:
                return _allow_all
            try:
                body = _read_capped(response, page, MAX_ROBOTS_BYTES, deadline)
            except LoadError as exc:
                if deadline.expired:
                    raise  # the page's time is spent: it fails with the deadline's reason
                log.info("robots.txt ignored url=%s reason=%s", _redact(robots_url), exc.reason)
                return _allow_all
            except httpx.HTTPError as exc:
                raise _transport_error(page, robots_url, exc, self._timeout, deadline) from None
        finally:
            response.close()
        parser = RobotFileParser(robots_url)
        parser.parse(body.decode("utf-8", errors="replace").splitlines())
        log.debug("robots.txt loaded url=%s", _redact(robots_url))

        def rule(url: str) -> bool:
            return bool(parser.can_fetch(USER_AGENT, url))

        return rule


def _allow_all(url: str) -> bool:
    return True


def _deny_all(url: str) -> bool:
    return False


def _robots_refusal(source: str) -> LoadError:
    return LoadError(source, "robots.txt does not allow importing this page (the site asks programs not to read it)")


# -- public API ------------------------------------------------------------------------------------


def fetch(
    url: str,
    *,
    client: httpx.Client | None = None,
    timeout: float = 15.0,
    max_bytes: int = MAX_BYTES,
    max_redirects: int = 5,
    robots: bool = True,
) -> tuple[Extracted, str]:
    """Download one page and extract its text. Returns ``(extracted, decoded_html)``.

    ``extracted.source`` is the normalised *requested* URL, so re-importing a link that redirects
    still updates the same document. Raises ``LoadError`` for every failure.
    """
    source = normalise_url(url)
    _check_url(source)
    target, auth = _request_url(url), _site_auth(url)
    own = client is None
    active = client if client is not None else _new_client(timeout)
    try:
        with _page_deadline(timeout) as deadline:
            if robots and not _Robots(active, timeout, auth).allowed(target, deadline):
                raise _robots_refusal(source)
            parsed, _final = _fetch_page(active, source, timeout, max_bytes, max_redirects, _parse_with_html,
                                         deadline=deadline, url=target, auth=auth)
        return parsed.extracted, parsed.html
    finally:
        if own:
            active.close()


@dataclass
class ParsedPage:
    """What a page's bytes turn into: its text and, when asked for, the links it holds."""

    extracted: Extracted
    links: list[str]
    html: str = ""  # the decoded page, kept only for ``fetch``, which returns it


def parse_page(page: _Page, source: str, want_links: bool) -> ParsedPage:
    """Decode and parse downloaded bytes. Runs in a guarded parse worker during imports (it is
    the untrusted part); the download itself stays in the calling process."""
    extracted, html = _extract(page, source)
    return ParsedPage(extracted, _page_links(html, page.url) if want_links else [])


PageParser = Callable[[_Page, str, bool], ParsedPage]


def _parse_with_html(page: _Page, source: str, want_links: bool) -> ParsedPage:
    extracted, html = _extract(page, source)
    return ParsedPage(extracted, [], html)


def _fetch_page(
    client: httpx.Client, source: str, timeout: float, max_bytes: int, max_redirects: int,
    parse: PageParser = parse_page, want_links: bool = False, *, deadline: _Deadline,
    url: str | None = None, auth: _SiteAuth | None = None,
) -> tuple[ParsedPage, str]:
    started = time.monotonic()
    try:
        page = _get_page(client, source, timeout, max_bytes, max_redirects, deadline, url, auth)
        parsed = parse(page, source, want_links)
    except LoadError as exc:
        log.info("fetch failed url=%s reason=%s", _redact(source), exc.reason)
        raise
    extracted = parsed.extracted
    log.info(
        "fetched url=%s final=%s type=%s bytes=%d chars=%d seconds=%.2f",
        _redact(source),
        _redact(page.url),
        page.media_type,
        len(page.body),
        len(extracted.text),
        time.monotonic() - started,
    )
    return parsed, page.url


def _page_links(html: str, page_url: str) -> list[str]:
    base = page_url
    m = _BASE_HREF.search(html[:65536])
    if m:
        base = urljoin(page_url, m.group(1))
    out: list[str] = []
    for href in links(html):
        href = href.strip()
        if not href or href.startswith("#"):
            continue
        target = urljoin(base, href)
        if urlsplit(target).scheme.lower() in DEFAULT_PORTS:
            out.append(_request_url(target))  # a link's own signed query must reach its server
    return out


def _crawl_one(
    client: httpx.Client, robots: _Robots, url: str, timeout: float, max_bytes: int, parse: PageParser,
    want_links: bool, auth: _SiteAuth | None,
) -> tuple[ParsedPage, str] | LoadError | None:
    """One crawl step under one deadline (robots.txt, then the page); None when robots.txt says no.
    ``url`` is what is requested; errors and the page carry its public form."""
    with _page_deadline(timeout) as deadline:
        try:
            if not robots.allowed(url, deadline):
                return None
            return _fetch_page(client, normalise_url(url), timeout, max_bytes, 5, parse, want_links,
                               deadline=deadline, url=url, auth=auth)
        except LoadError as exc:
            return exc


def crawl(
    url: str,
    *,
    depth: int = 0,
    max_pages: int = 20,
    cancel: threading.Event | None = None,
    timeout: float = 15.0,
    max_bytes: int = MAX_BYTES,
    parse: PageParser = parse_page,
) -> Iterator[Extracted | LoadError]:
    """Import ``url`` and, breadth first, same-site pages it links to, up to ``depth`` links away.

    Yields one item per page attempted: its ``Extracted`` or the ``LoadError`` that stopped it; a
    bad page never ends the crawl. Stops after ``max_pages`` attempts, or when ``cancel`` is set
    (checked between pages). Pages robots.txt disallows are skipped silently, except the start
    page, which yields the refusal. ``parse`` turns a downloaded page into text and links; the
    engine passes one that runs in a guarded parse worker.
    """
    start = normalise_url(url)
    try:
        _check_url(start)
    except LoadError as exc:
        yield exc
        return
    start_parts = urlsplit(start)
    site = {_origin(start_parts)}
    auth = _site_auth(url)
    # The queue holds what is requested (the start link's token kept); ``seen`` and errors use public forms.
    queue: deque[tuple[str, int]] = deque([(_request_url(url), 0)])
    seen = {start}
    attempted = 0
    log.info("crawl started url=%s depth=%d max_pages=%d", _redact(start), depth, max_pages)
    with _new_client(timeout) as client:
        robots = _Robots(client, timeout, auth)
        while queue and attempted < max_pages:
            if cancel is not None and cancel.is_set():
                log.info("crawl cancelled url=%s pages=%d", _redact(start), attempted)
                return
            target, level = queue.popleft()
            page = normalise_url(target)
            outcome = _crawl_one(client, robots, target, timeout, max_bytes, parse, level < depth, auth)
            if outcome is None:
                if page == start:
                    attempted += 1
                    yield _robots_refusal(page)
                else:
                    log.info("crawl skipped by robots.txt url=%s", _redact(page))
                continue
            attempted += 1
            if isinstance(outcome, LoadError):
                yield outcome
                continue
            parsed, final = outcome
            if page == start:
                # A start page that redirects (http -> https, bare -> www) moves the site with it.
                site.add(_origin(urlsplit(final)))
            yield parsed.extracted
            if level >= depth:
                continue
            for link in parsed.links:
                if normalise_url(link) in seen:
                    continue
                seen.add(normalise_url(link))
                parts = urlsplit(link)
                if _origin(parts) not in site:
                    continue
                if parts.path.lower().endswith(SKIP_SUFFIXES):
                    continue
                queue.append((link, level + 1))
    log.info("crawl finished url=%s pages=%d", _redact(start), attempted)
