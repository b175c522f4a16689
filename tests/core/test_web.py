"""URL import against a real HTTP server on 127.0.0.1 (tests/httpserver.py); no mocks."""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.documents import Extracted
from core.errors import LoadError
from core.ingest.web import USER_AGENT, crawl, fetch, normalise_url
from tests.httpserver import HttpServer

ARTICLE = """<!doctype html>
<html><head><title>Tide Tables</title><script>var tracking = "SCRIPTTEXT";</script></head>
<body>
<nav><a href="/">Home</a> NAVTEXT</nav>
<header>HEADERTEXT</header>
<main>
  <h1>Tides</h1>
  <p>The tide rises twice a day.</p>
  <h2>Spring tides</h2>
  <p>Spring tides happen at new and full moon.</p>
</main>
<footer>FOOTERTEXT copyright</footer>
</body></html>"""


def _error(url: str, **kwargs: object) -> LoadError:
    with pytest.raises(LoadError) as info:
        fetch(url, **kwargs)  # type: ignore[arg-type]
    return info.value


def _page(body: str) -> str:
    return f"<html><head><title>{body}</title></head><body><p>{body} text</p></body></html>"


# -- normalise_url -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("https://example.com:443/a?b=1#frag", "https://example.com/a?b=1"),
        ("http://example.com:80/", "http://example.com/"),
        ("http://example.com:8080/x", "http://example.com:8080/x"),
        ("http://example.com/a/../b/./c", "http://example.com/b/c"),
        ("http://example.com/a b", "http://example.com/a%20b"),
        ("  https://example.com/Path?Q=A  ", "https://example.com/Path?Q=A"),
        ("http://[::1]:8000/x", "http://[::1]:8000/x"),
        # No secrets in a stored source: user info goes, credential values are redacted.
        ("https://alice:hunter2@Example.com/a", "https://example.com/a"),
        ("https://alice@example.com:8443/", "https://example.com:8443/"),
        ("ftp://bob:pw@example.com/f", "ftp://example.com/f"),
        ("https://s3.example.com/f?X-Amz-Signature=abc&X-Amz-Date=1", "https://s3.example.com/f?X-Amz-Signature=REDACTED&X-Amz-Date=1"),
        ("https://example.com/?q=tea&api_key=k1&access_token=t2", "https://example.com/?q=tea&api_key=REDACTED&access_token=REDACTED"),
        # Ambiguous names stay in the source (they may tell pages apart); logs still redact them.
        ("https://example.com/country?code=FR", "https://example.com/country?code=FR"),
    ],
)
def test_normalise_url(raw: str, expected: str) -> None:
    assert normalise_url(raw) == expected


_segment = st.sampled_from(["a", "B", ".", "..", "", "x y", "%41", "é", "a.html"])


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from(["http", "HTTP", "https", "HtTpS"]),
    host=st.sampled_from(["example.com", "EXAMPLE.org", "127.0.0.1", "[::1]"]),
    port=st.sampled_from(["", ":80", ":443", ":8080", ":"]),
    segments=st.lists(_segment, max_size=6),
    query=st.sampled_from(["", "?", "?a=1&b=2", "?q=x y", "?Q=%2F"]),
    fragment=st.sampled_from(["", "#", "#top"]),
)
def test_normalise_url_is_idempotent(
    scheme: str, host: str, port: str, segments: list[str], query: str, fragment: str
) -> None:
    url = f"{scheme}://{host}{port}/" + "/".join(segments) + query + fragment
    once = normalise_url(url)
    assert normalise_url(once) == once
    assert "#" not in once
    assert once.startswith(("http://", "https://"))


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_normalise_url_never_raises(text: str) -> None:
    normalise_url(text)
    normalise_url("http://" + text)


# -- fetch: pages that work ----------------------------------------------------------------------


def test_fetch_article_keeps_main_text_and_sections(http_server: HttpServer) -> None:
    http_server.route("/tides", ARTICLE)
    extracted, html = fetch(http_server.url("/tides"))
    assert extracted.source == normalise_url(http_server.url("/tides"))
    assert extracted.kind == "html"
    assert extracted.title == "Tide Tables"
    assert "The tide rises twice a day." in extracted.text
    for furniture in ("SCRIPTTEXT", "NAVTEXT", "FOOTERTEXT", "HEADERTEXT"):
        assert furniture not in extracted.text
    assert [title for _, title in extracted.sections] == ["Tides", "Spring tides"]
    for offset, title in extracted.sections:
        assert extracted.text[offset : offset + len(title)] == title
    assert "NAVTEXT" in html  # the raw page comes back untouched, for link extraction
    assert http_server.requests[-1].headers["user-agent"] == USER_AGENT


def test_charset_from_content_type_header(http_server: HttpServer) -> None:
    body = "<html><body><p>Un café crème, s'il vous plaît</p></body></html>".encode("latin-1")
    http_server.route("/", body, content_type="text/html; charset=ISO-8859-1")
    extracted, _ = fetch(http_server.url("/"))
    assert "Un café crème, s'il vous plaît" in extracted.text


def test_charset_from_meta_tag(http_server: HttpServer) -> None:
    # windows-1251 bytes are not UTF-8, and the cp1252 fallback would give mojibake: only <meta> gets this right.
    body = (
        '<html><head><meta charset="windows-1251"><title>Привет</title></head>'
        "<body><p>Съешь же ещё этих мягких французских булок</p></body></html>"
    ).encode("cp1251")
    http_server.route("/", body, content_type="text/html")
    extracted, _ = fetch(http_server.url("/"))
    assert extracted.title == "Привет"
    assert "Съешь же ещё этих мягких французских булок" in extracted.text


def test_latin1_page_with_meta_http_equiv(http_server: HttpServer) -> None:
    body = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"></head>'
        "<body><p>Résumé of the café</p></body></html>"
    ).encode("latin-1")
    http_server.route("/", body, content_type="text/html")
    extracted, _ = fetch(http_server.url("/"))
    assert "Résumé of the café" in extracted.text


def test_utf8_fallback_without_any_declaration(http_server: HttpServer) -> None:
    http_server.route("/", "<p>naïve ünïcödé</p>".encode(), content_type="text/html")
    extracted, _ = fetch(http_server.url("/"))
    assert "naïve ünïcödé" in extracted.text


def test_plain_text_page(http_server: HttpServer) -> None:
    http_server.route(
        "/notes/readme.txt", "First line.\n\nSecond paragraph.\n", content_type="text/plain; charset=utf-8"
    )
    extracted, raw = fetch(http_server.url("/notes/readme.txt"))
    assert extracted.kind == "text"
    assert extracted.title == "readme.txt"
    assert "Second paragraph." in extracted.text
    assert raw.startswith("First line.")


def test_xhtml_page(http_server: HttpServer) -> None:
    http_server.route(
        "/",
        '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body>'
        "<h1>X</h1><p>Extensible text</p></body></html>",
        content_type="application/xhtml+xml",
    )
    extracted, _ = fetch(http_server.url("/"))
    assert "Extensible text" in extracted.text


def test_redirect_chain_is_followed_and_source_stays_requested(http_server: HttpServer) -> None:
    http_server.route("/start", status=301, redirect_to="/middle")
    http_server.route("/middle", status=307, redirect_to=http_server.url("/end/"))
    http_server.route("/end/", status=302, redirect_to="../final")
    http_server.route("/final", _page("Final"))
    requested = http_server.url("/start") + "#section"
    extracted, _ = fetch(requested)
    assert extracted.source == normalise_url(requested) == http_server.url("/start")
    assert "Final text" in extracted.text
    assert http_server.paths == ["/robots.txt", "/start", "/middle", "/end/", "/final"]


def test_caller_supplied_client_is_left_open(http_server: HttpServer) -> None:
    http_server.route("/", _page("Hello"))
    with httpx.Client(trust_env=False) as client:
        fetch(http_server.url("/"), client=client)
        fetch(http_server.url("/"), client=client)
        assert not client.is_closed
    assert http_server.requests[-1].headers["user-agent"] == USER_AGENT


def test_credentials_in_the_link_are_used_but_never_kept(http_server: HttpServer) -> None:
    http_server.route("/", _page("Members"))
    http_server.robots("User-agent: *\nAllow: /\n")
    url = http_server.url("/?token=sekrit-token&q=1").replace("http://", "http://alice:hunter2@")
    extracted, _ = fetch(url)
    assert extracted.source == http_server.url("/?token=REDACTED&q=1")
    page, robots = http_server.requests[-1], http_server.requests[0]
    assert page.path == "/?token=sekrit-token&q=1"  # the server still gets the real token...
    expected = "Basic " + base64.b64encode(b"alice:hunter2").decode()
    assert page.headers["authorization"] == expected  # ...and the credentials, as basic auth
    assert robots.path == "/robots.txt" and robots.headers["authorization"] == expected


def test_credentials_are_not_sent_to_another_site(http_server: HttpServer) -> None:
    other = f"http://localhost:{http_server.port}/landing"  # same server, another origin
    http_server.route("/go", redirect_to=other)
    http_server.route("/landing", _page("Landing"))
    fetch(http_server.url("/go").replace("http://", "http://alice:hunter2@"))
    sent = {r.path: r.headers.get("authorization") for r in http_server.requests}
    assert sent["/go"] is not None
    assert sent["/landing"] is None


def test_errors_name_the_link_without_its_secrets(http_server: HttpServer) -> None:
    http_server.route("/a", redirect_to="/b?sig=s3kr1t")
    http_server.route("/b", redirect_to="/a")
    err = _error(http_server.url("/a").replace("http://", "http://alice:hunter2@") + "?token=t0k3n")
    assert "redirects in a loop" in err.reason
    for secret in ("hunter2", "alice", "t0k3n", "s3kr1t"):
        assert secret not in str(err)


def test_crawl_keeps_credentials_on_the_site_and_out_of_sources(http_server: HttpServer) -> None:
    http_server.route("/", _page("Home") + '<a href="/next">next</a>')
    http_server.route("/next", _page("Next"))
    items = list(crawl(http_server.url("/?token=t0k3n").replace("http://", "http://alice:hunter2@"), depth=1))
    assert [type(i).__name__ for i in items] == ["Extracted", "Extracted"]
    assert [i.source for i in items if isinstance(i, Extracted)] == [
        http_server.url("/?token=REDACTED"), http_server.url("/next")]
    assert all(r.headers.get("authorization") for r in http_server.requests)


def test_secrets_in_the_url_are_not_logged(http_server: HttpServer, caplog: pytest.LogCaptureFixture) -> None:
    http_server.route("/", _page("Hello"))
    caplog.set_level(logging.DEBUG, logger="core.ingest.web")
    url = http_server.url("/?token=sekrit-token").replace("http://", "http://alice:hunter2@")
    fetch(url)
    assert "fetched" in caplog.text
    assert "hunter2" not in caplog.text
    assert "sekrit-token" not in caplog.text


# -- fetch: one clear error per failure ----------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.com/file",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "mailto:someone@example.com",
        "example.com/no-scheme",
    ],
)
def test_only_http_and_https(url: str) -> None:
    err = _error(url)
    assert err.reason == "only http and https links can be imported"
    assert str(err).startswith(normalise_url(url))


def test_http_error_status(http_server: HttpServer) -> None:
    url = http_server.url("/missing")
    err = _error(url)
    assert err.reason == "the server answered 404 Not Found"
    assert str(err) == f"{url}: the server answered 404 Not Found"


def test_server_error_status(http_server: HttpServer) -> None:
    http_server.route("/boom", "oops", status=503, content_type="text/plain")
    assert _error(http_server.url("/boom")).reason == "the server answered 503 Service Unavailable"


def test_slow_server_times_out(http_server: HttpServer) -> None:
    http_server.route("/slow", _page("Late"), delay=60)
    started = time.monotonic()
    err = _error(http_server.url("/slow"), timeout=0.5)
    assert err.reason == "the server did not answer within 0.5 s"
    assert time.monotonic() - started < 5


def test_trickling_server_hits_the_overall_deadline(http_server: HttpServer) -> None:
    def forever() -> Iterator[bytes]:
        yield b"<html><body><p>"
        while True:
            yield b"drip "

    http_server.route("/drip", forever, chunk_delay=0.1)
    started = time.monotonic()
    err = _error(http_server.url("/drip"), timeout=0.3)
    assert err.reason == "the server did not send the whole page within 1.2 s"
    assert time.monotonic() - started < 5


class _Trickler:
    """A raw-socket server on 127.0.0.1 that answers each request with ``script(path)``: a list of
    byte strings, sent one byte at a time with ``gap`` seconds between bytes, and a final part
    repeated forever. No library stands between the bytes and the socket, so a header can be cut
    mid-line and a body can drip for as long as the client keeps reading."""

    def __init__(self, script: Callable[[str], tuple[bytes, bytes]], gap: float = 0.02) -> None:
        self.script = script
        self.gap = gap
        self.stop = threading.Event()
        self.paths: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.threads: list[threading.Thread] = []
        self.acceptor = threading.Thread(target=self._accept, daemon=True)
        self.acceptor.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}{path}"

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(worker)
            worker.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                request = b""
                while b"\r\n\r\n" not in request:
                    data = conn.recv(4096)
                    if not data:
                        return
                    request += data
                path = request.split(b" ", 2)[1].decode()
                self.paths.append(path)
                head, forever = self.script(path)
                for byte in _drip(head, forever):
                    if self.stop.wait(self.gap):
                        return
                    conn.sendall(byte)
            except OSError:  # the client hung up: what the deadline is for
                return

    def close(self) -> None:
        self.stop.set()
        self.acceptor.join(5)
        for worker in self.threads:
            worker.join(5)
        self.listener.close()


def _drip(head: bytes, forever: bytes) -> Iterator[bytes]:
    for i in range(len(head)):
        yield head[i : i + 1]
    while forever:
        for i in range(len(forever)):
            yield forever[i : i + 1]


@pytest.fixture
def trickler() -> Iterator[Callable[[Callable[[str], tuple[bytes, bytes]]], _Trickler]]:
    made: list[_Trickler] = []

    def make(script: Callable[[str], tuple[bytes, bytes]]) -> _Trickler:
        made.append(_Trickler(script))
        return made[-1]

    yield make
    for server in made:
        server.close()


_NO_ROBOTS = b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n"
_BODY = b"<p>A page that arrived in time.</p>"
_PAGE = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: %d\r\n\r\n%s" % (len(_BODY), _BODY)


def test_server_trickling_its_headers_is_cut_off_at_the_deadline(trickler: Any) -> None:
    # One header byte every 20 ms never trips a 0.25 s read timeout; only the page's deadline (4 x 0.25 s) can.
    server = trickler(lambda path: (_NO_ROBOTS, b"") if path == "/robots.txt"
                      else (b"HTTP/1.1 200 OK\r\nX-Pad: ", b"a"))
    err = _error(server.url("/page"), timeout=0.25)
    assert err.reason == "the server did not send the whole page within 1 s"
    assert str(err).startswith(server.url("/page"))


def test_server_trickling_a_body_without_length_is_cut_off_not_taken_as_complete(trickler: Any) -> None:
    # Without Content-Length the body ends when the connection closes, which is what the deadline
    # does: the half page must be an error, not a short document.
    head = b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<p>drip"
    server = trickler(lambda path: (_NO_ROBOTS, b"") if path == "/robots.txt" else (head, b" drip"))
    assert _error(server.url("/page"), timeout=0.25).reason == "the server did not send the whole page within 1 s"


@pytest.mark.parametrize("part", ["headers", "body"])
def test_trickling_robots_txt_spends_the_pages_deadline(trickler: Any, part: str) -> None:
    robots = (b"HTTP/1.1 200 OK\r\nX-Pad: ", b"a") if part == "headers" else (
        b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nUser-agent: *\n", b"#")
    server = trickler(lambda path: robots if path == "/robots.txt" else (_PAGE, b""))
    err = _error(server.url("/page"), timeout=0.25)
    assert err.reason == "the server did not send the whole page within 1 s"
    assert server.paths == ["/robots.txt"]  # the page itself was never asked for: its time was spent
    crawled = list(crawl(server.url("/page"), timeout=0.25))
    assert [str(item) for item in crawled] == [str(err)]


def test_page_that_arrives_slowly_but_within_the_deadline_is_imported(trickler: Any) -> None:
    server = trickler(lambda path: (_NO_ROBOTS, b"") if path == "/robots.txt" else (_PAGE, b""))
    server.gap = 0.001
    extracted, _ = fetch(server.url("/page"), timeout=5)
    assert extracted.text == "A page that arrived in time."


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    err = _error(f"http://127.0.0.1:{port}/", timeout=2)
    assert err.reason == "could not connect to 127.0.0.1 (the connection was refused)"


def test_redirect_loop(http_server: HttpServer) -> None:
    http_server.route("/a", redirect_to="/b")
    http_server.route("/b", redirect_to="/a")
    err = _error(http_server.url("/a"))
    assert err.reason == f"the server redirects in a loop (back to {http_server.url('/a')})"


def test_too_many_redirects(http_server: HttpServer) -> None:
    for i in range(7):
        http_server.route(f"/hop{i}", redirect_to=f"/hop{i + 1}")
    http_server.route("/hop7", _page("End"))
    assert _error(http_server.url("/hop0")).reason == "too many redirects (more than 5)"
    assert _error(http_server.url("/hop0"), max_redirects=2).reason == "too many redirects (more than 2)"
    extracted, _ = fetch(http_server.url("/hop0"), max_redirects=7)
    assert "End text" in extracted.text


def test_redirect_to_file_scheme_is_refused(http_server: HttpServer) -> None:
    http_server.route("/sneaky", redirect_to="file:///etc/passwd")
    err = _error(http_server.url("/sneaky"))
    assert err.reason == "redirected to a file:// address, which is not allowed"
    assert err.source == http_server.url("/sneaky")


@pytest.mark.parametrize(
    ("content_type", "shown"),
    [
        ("image/png", "image/png"),
        ("application/zip", "application/zip"),
        ("Application/Octet-Stream; name=x.bin", "application/octet-stream"),
    ],
)
def test_non_page_content_types_are_refused(http_server: HttpServer, content_type: str, shown: str) -> None:
    http_server.route("/file", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, content_type=content_type)
    assert _error(http_server.url("/file")).reason == f"this link serves {shown}, not a web page"


def _twenty_megabytes() -> Iterator[bytes]:
    chunk = b"<p>" + b"a" * (64 * 1024 - 7) + b"</p>"
    for _ in range(20 * 16):
        yield chunk


def test_page_over_the_size_cap_while_streaming(http_server: HttpServer) -> None:
    # No Content-Length: the cap must be enforced while reading.
    http_server.route("/huge", _twenty_megabytes)
    assert _error(http_server.url("/huge")).reason == "the page is too large (over 10 MB)"


def test_page_over_the_size_cap_by_content_length(http_server: HttpServer) -> None:
    http_server.route("/huge", _twenty_megabytes, headers={"Content-Length": str(20 * 1024 * 1024)})
    assert _error(http_server.url("/huge")).reason == "the page is too large (over 10 MB)"
    assert _error(http_server.url("/huge"), max_bytes=1536 * 1024).reason == "the page is too large (over 1.5 MB)"


def test_empty_page(http_server: HttpServer) -> None:
    http_server.route("/empty", "<html><body><nav>Only navigation</nav><script>x()</script></body></html>")
    assert _error(http_server.url("/empty")).reason == "no text found on the page"


def test_binary_served_as_html(http_server: HttpServer) -> None:
    http_server.route("/bin", b"\x00\x01\x02" * 100)
    assert _error(http_server.url("/bin")).reason == "this is a binary file, not text"


def test_robots_txt_disallows_the_page(http_server: HttpServer) -> None:
    http_server.robots("User-agent: *\nDisallow: /private\n")
    http_server.route("/private/page", _page("Secret"))
    http_server.route("/public", _page("Public"))
    err = _error(http_server.url("/private/page"))
    assert err.reason.startswith("robots.txt does not allow importing this page")
    assert http_server.hits("/private/page") == 0
    assert "Public text" in fetch(http_server.url("/public"))[0].text


def test_robots_txt_for_our_user_agent(http_server: HttpServer) -> None:
    http_server.robots("User-agent: Footnote\nDisallow: /\n\nUser-agent: *\nAllow: /\n")
    http_server.route("/", _page("Home"))
    assert _error(http_server.url("/")).reason.startswith("robots.txt does not allow")


def test_missing_robots_txt_allows_everything(http_server: HttpServer) -> None:
    http_server.route("/", _page("Home"))
    assert fetch(http_server.url("/"))[0].title == "Home"
    assert http_server.paths == ["/robots.txt", "/"]


# -- crawl ----------------------------------------------------------------------------------------


def _site(server: HttpServer) -> None:
    """/ -> a, b (plus duplicates, off-site, disallowed, binary and broken links); a -> c; b -> d; c -> e."""
    other = f"http://localhost:{server.port}"  # same server, different host: off-site for the crawler
    server.robots("User-agent: *\nDisallow: /private\n")
    server.route(
        "/",
        _page("Home")
        + f"""
        <a href="/a">A</a> <a href="/a#x">A again</a> <a href="/a/../a">A again</a> <a href="a">A relative</a>
        <a href="{server.url("/a")}">A absolute</a> <a href="/b">B</a> <a href="#top">top</a>
        <a href="/private/secret">private</a> <a href="{other}/offsite">off-site</a>
        <a href="http://127.0.0.1:1/elsewhere">other port</a> <a href="mailto:x@example.com">mail</a>
        <a href="/picture.png">picture</a> <a href="/missing">broken</a>""",
    )
    server.route("/a", _page("A") + '<a href="/c">C</a> <a href="/">home</a>')
    server.route("/b", _page("B") + '<a href="d">D</a>')
    server.route("/c", _page("C") + '<a href="/e">E</a>')
    server.route("/d", _page("D"))
    server.route("/e", _page("E"))
    server.route("/private/secret", _page("Private"))
    server.route("/offsite", _page("Offsite"))
    server.route("/picture.png", b"\x89PNG", content_type="image/png")


def _titles(items: list[Extracted | LoadError]) -> list[str]:
    return [item.title if isinstance(item, Extracted) else f"error:{item.reason}" for item in items]


def test_crawl_depth_zero_is_just_the_page(http_server: HttpServer) -> None:
    _site(http_server)
    items = list(crawl(http_server.url("/")))
    assert _titles(items) == ["Home"]
    assert http_server.paths == ["/robots.txt", "/"]


def test_crawl_depth_one(http_server: HttpServer) -> None:
    _site(http_server)
    items = list(crawl(http_server.url("/"), depth=1))
    assert _titles(items) == ["Home", "A", "B", "error:the server answered 404 Not Found"]
    assert isinstance(items[3], LoadError) and items[3].source == http_server.url("/missing")
    assert http_server.hits("/a") == 1
    assert http_server.hits("/robots.txt") == 1
    for never in ("/private/secret", "/offsite", "/picture.png", "/c"):
        assert http_server.hits(never) == 0, never
    assert all(item.source.startswith(http_server.origin) for item in items)


def test_crawl_depth_two(http_server: HttpServer) -> None:
    _site(http_server)
    items = list(crawl(http_server.url("/"), depth=2))
    assert _titles(items) == ["Home", "A", "B", "error:the server answered 404 Not Found", "C", "D"]
    assert http_server.hits("/") == 1  # the link back home is not fetched again
    assert http_server.hits("/e") == 0


def test_crawl_respects_max_pages(http_server: HttpServer) -> None:
    _site(http_server)
    assert _titles(list(crawl(http_server.url("/"), depth=2, max_pages=2))) == ["Home", "A"]
    assert http_server.hits("/b") == 0


def test_crawl_start_page_disallowed_by_robots(http_server: HttpServer) -> None:
    _site(http_server)
    items = list(crawl(http_server.url("/private/secret"), depth=1))
    assert len(items) == 1 and isinstance(items[0], LoadError)
    assert items[0].reason.startswith("robots.txt does not allow")


def test_crawl_bad_start_url_yields_an_error() -> None:
    items = list(crawl("ftp://example.com/", depth=2))
    assert len(items) == 1 and isinstance(items[0], LoadError)
    assert items[0].reason == "only http and https links can be imported"


def test_crawl_follows_a_redirected_start_page(http_server: HttpServer) -> None:
    _site(http_server)
    http_server.route("/old-home", status=301, redirect_to="/")
    items = list(crawl(http_server.url("/old-home"), depth=1))
    assert _titles(items)[:3] == ["Home", "A", "B"]
    assert items[0].source == http_server.url("/old-home")


def test_cancel_stops_a_crawl_between_pages(http_server: HttpServer) -> None:
    _site(http_server)
    cancel = threading.Event()
    seen: list[Extracted | LoadError] = []
    for item in crawl(http_server.url("/"), depth=2, cancel=cancel):
        seen.append(item)
        cancel.set()
    assert _titles(seen) == ["Home"]
    assert http_server.hits("/a") == 0
    assert list(crawl(http_server.url("/"), depth=2, cancel=cancel)) == []
