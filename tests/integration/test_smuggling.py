"""Request smuggling and abuse defences: every ambiguous or malformed request head is answered with
its status and the connection is closed, and none of these requests reaches the backend."""

import pytest

from harness import WaitTimeout, make_config, serve_in_threads, service, wait_until
from rawhttp import Closed, RawConn, request

LIMITS = {"request_line": "1k", "header_block": "4k", "header_count": 20, "body_size": "1k"}


@pytest.fixture(scope="module")
def proxy(module_factories):
    switchboard, _, echo_backend, _, _ = module_factories
    be = echo_backend()
    sb = switchboard(config=make_config([service("app", [be.addr])], limits=LIMITS))
    return be, sb


def req(*lines, body=b""):
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked_post(body):
    """A chunked POST whose head is in order: only `body`, its chunks and trailers, is at fault."""
    return req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: chunked", body=body)


# (id, request bytes, expected status)
CASES = [
    # Content-Length and Transfer-Encoding
    ("cl-and-te", req("POST / HTTP/1.1", "Host: t", "Content-Length: 5", "Transfer-Encoding: chunked",
                      body=b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
    ("te-and-cl", req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: chunked", "Content-Length: 3",
                      body=b"0\r\n\r\n"), 400),
    ("duplicate-cl-same", req("POST / HTTP/1.1", "Host: t", "Content-Length: 5", "Content-Length: 5",
                              body=b"hello"), 400),
    ("duplicate-cl-different", req("POST / HTTP/1.1", "Host: t", "Content-Length: 5", "Content-Length: 6",
                                   body=b"hello!"), 400),
    ("cl-list", req("POST / HTTP/1.1", "Host: t", "Content-Length: 5, 5", body=b"hello"), 400),
    ("cl-12a", req("POST / HTTP/1.1", "Host: t", "Content-Length: 12a", body=b"x" * 12), 400),
    ("cl-negative", req("POST / HTTP/1.1", "Host: t", "Content-Length: -1"), 400),
    ("cl-inner-space", req("POST / HTTP/1.1", "Host: t", "Content-Length:  1 2", body=b"x" * 12), 400),
    ("cl-plus", req("POST / HTTP/1.1", "Host: t", "Content-Length: +5", body=b"hello"), 400),
    ("cl-hex", req("POST / HTTP/1.1", "Host: t", "Content-Length: 0x5", body=b"hello"), 400),
    ("cl-empty", req("POST / HTTP/1.1", "Host: t", "Content-Length: "), 400),
    ("cl-overflow", req("POST / HTTP/1.1", "Host: t", "Content-Length: 99999999999999999999999"), 400),
    # Transfer-Encoding must be chunked, last
    ("te-gzip", req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: gzip", body=b"0\r\n\r\n"), 400),
    ("te-chunked-gzip", req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: chunked, gzip",
                            body=b"0\r\n\r\n"), 400),
    ("te-identity", req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: identity", body=b"0\r\n\r\n"), 400),
    ("te-two-fields", req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: chunked \t", "Transfer-Encoding: chunked",
                          body=b"0\r\n\r\n"), 400),
    ("te-xchunked", req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: xchunked", body=b"0\r\n\r\n"), 400),
    # No coding at all: llhttp reads no body, a next hop may read chunks (nginx 501, HAProxy 400).
    ("te-empty", req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding:", body=b"0\r\n\r\n"), 400),
    ("te-blank", req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: \t ", body=b"0\r\n\r\n"), 400),
    # A coding before chunked: 501, as nginx and Envoy answer (RFC 9112 6.1).
    ("te-gzip-chunked", req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: gzip, chunked",
                            body=b"0\r\n\r\n"), 501),
    ("te-chunked-identity", req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: chunked, identity",
                                body=b"0\r\n\r\n"), 400),
    # Chunk framing
    ("chunk-size-zz", chunked_post(b"zz\r\n"), 400),
    ("chunk-size-0x", chunked_post(b"0x5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-size-negative", chunked_post(b"-5\r\nhello\r\n0\r\n\r\n"), 400),
    ("chunk-data-overrun", chunked_post(b"5\r\nhelloXX\r\n0\r\n\r\n"), 400),
    # Every CR of the framing is followed by LF, and chunk data by CRLF: a loose parser skips two
    # unchecked bytes after the data and takes any byte after a final CR for the LF.
    ("chunk-data-then-two-bytes", chunked_post(b"1\r\naXY0\r\n\r\n"), 400),
    ("chunk-size-bare-cr", chunked_post(b"5\rXhello\r\n0\r\n\r\n"), 400),
    ("chunk-data-bare-cr", chunked_post(b"5\r\nhello\rX0\r\n\r\n"), 400),
    ("last-chunk-bare-cr", chunked_post(b"0\rX\r\n"), 400),
    ("trailers-end-bare-cr", chunked_post(b"0\r\n\rXGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
    ("trailers-end-bare-lf", chunked_post(b"0\r\n\nGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n"), 400),
    # Header syntax
    ("obs-fold-space", req("GET / HTTP/1.1", "Host: t", "X-A: one", " folded"), 400),
    ("obs-fold-tab", req("GET / HTTP/1.1", "Host: t", "X-A: one", "\tfolded"), 400),
    ("obs-fold-after-colon", req("GET / HTTP/1.1", "X-A:", " Host: evil", "Host: t"), 400),
    # A trailer section is forwarded with the body, so its fields follow the head's rules.
    ("trailer-obs-fold", chunked_post(b"0\r\nX-T: a\r\n b\r\n\r\n"), 400),
    ("trailer-obs-fold-after-colon", chunked_post(b"0\r\nX-T:\r\n b\r\n\r\n"), 400),
    ("trailer-space-in-name", chunked_post(b"0\r\nBad Name: a\r\n\r\n"), 400),
    ("space-before-colon-host", req("GET / HTTP/1.1", "Host : t"), 400),
    ("space-before-colon", req("GET / HTTP/1.1", "Host: t", "X-Foo : bar"), 400),
    ("space-in-name", req("GET / HTTP/1.1", "Host: t", "Bad Header: x"), 400),
    ("no-colon", req("GET / HTTP/1.1", "Host: t", "NoColonHere"), 400),
    ("bare-cr-in-value", req("GET / HTTP/1.1", "Host: t", "X-A: a\rb"), 400),
    ("bare-cr-line-end", b"GET / HTTP/1.1\r\nHost: t\rX-A: b\r\n\r\n", 400),
    ("bare-cr-head-end", b"GET / HTTP/1.1\r\nHost: t\r\n\rXGET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("nul-in-value", req("GET / HTTP/1.1", "Host: t", "X-A: a\x00b"), 400),
    ("nul-in-target", req("GET /a\x00b HTTP/1.1", "Host: t"), 400),
    ("tab-in-target", req("GET /a\tb HTTP/1.1", "Host: t"), 400),
    ("raw-utf8-in-target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\n\r\n", 400),
    ("no-host", req("GET / HTTP/1.1", "X-A: b"), 400),
    ("two-hosts", req("GET / HTTP/1.1", "Host: a", "Host: b"), 400),
    # The Host (or an absolute-form target's authority) chooses the route: one that readers split
    # differently is refused (RFC 9112 3.2, RFC 9110 4.2.4).
    ("host-with-space", req("GET / HTTP/1.1", "Host: a b"), 400),
    ("host-with-path", req("GET / HTTP/1.1", "Host: t/../admin"), 400),
    ("host-with-userinfo", req("GET / HTTP/1.1", "Host: user@t"), 400),
    ("host-with-backslash", req("GET / HTTP/1.1", "Host: t\\x"), 400),
    ("host-bad-port", req("GET / HTTP/1.1", "Host: t:80:80"), 400),
    ("absolute-form-userinfo", req("GET http://user@t/ HTTP/1.1", "Host: t"), 400),
    ("absolute-form-empty-host", req("GET http:///x HTTP/1.1", "Host: t"), 400),
    # Versions: HTTP/1.0 has no Transfer-Encoding (RFC 9112 6.1), and HTTP/2 is not spoken here.
    ("http10-transfer-encoding", req("POST / HTTP/1.0", "Host: t", "Transfer-Encoding: chunked",
                                     body=b"0\r\n\r\n"), 400),
    ("http2-request-line", req("GET / HTTP/2.0", "Host: t"), 505),
    # Paths that servers read differently: a fragment (RFC 9112 has none in a request-target), a
    # backslash (a slash to Windows and WHATWG parsers), a dot segment with parameters (".." to
    # servlet containers).
    ("fragment-in-target", req("GET /public#/../admin HTTP/1.1", "Host: t"), 400),
    ("backslash-in-path", req("GET /public\\..\\admin HTTP/1.1", "Host: t"), 400),
    ("dot-segment-with-parameters", req("GET /public/..;/admin HTTP/1.1", "Host: t"), 400),
    # A '%' that is not an escape makes the path unreadable to a normalizing server.
    ("malformed-escape-in-path", req("GET /a%zz/b HTTP/1.1", "Host: t"), 400),
    ("truncated-escape-in-path", req("GET /100% HTTP/1.1", "Host: t"), 400),
    # Limits
    ("request-line-too-long", req("GET /" + "a" * 2000 + " HTTP/1.1", "Host: t"), 414),
    ("one-huge-header", req("GET / HTTP/1.1", "Host: t", "X-Big: " + "b" * 5000), 431),
    ("header-block-too-big", req("GET / HTTP/1.1", "Host: t", *[f"X-H{i}: " + "v" * 500 for i in range(10)]), 431),
    ("too-many-headers", req("GET / HTTP/1.1", "Host: t", *[f"X-H{i}: v" for i in range(25)]), 431),
    ("body-over-limit-by-cl", req("POST / HTTP/1.1", "Host: t", "Content-Length: 2000"), 413),
]

CHUNKED_OVER_LIMIT = req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: chunked",
                         body=b"258\r\n" + b"x" * 600 + b"\r\n258\r\n" + b"y" * 600 + b"\r\n0\r\n\r\n")


def expect_rejected(sb, data, status):
    with RawConn(sb.port, timeout=5) as c:
        c.send(data)
        try:
            r = c.read_response()
        except Closed as exc:
            pytest.fail(f"connection closed without a {status} response: {exc}")
        assert r.status == status, f"{r.status} {r.reason}: {r.body[:200]!r}"
        assert 0 < len(r.body) <= 1024
        assert c.closed_within(3), "connection left open after a rejected request"
        return r


@pytest.mark.parametrize("data,status", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rejected_and_closed_without_reaching_backend(proxy, data, status):
    be, sb = proxy
    before = be.head_count()
    expect_rejected(sb, data, status)
    assert be.head_count() == before, "the request (or a part of it) reached the backend"
    assert sb.alive()


def test_chunked_body_over_limit_is_413(proxy):
    be, sb = proxy
    before = len(be.completed())
    expect_rejected(sb, CHUNKED_OVER_LIMIT, 413)
    # The head may already be on its way upstream when the total passes the limit; the upstream
    # must never see the request complete.
    with pytest.raises(WaitTimeout):
        wait_until(lambda: len(be.completed()) > before, 0.5)


def test_chunk_extensions_do_not_carry_a_body_past_body_size(switchboard):
    """body_size counts a chunked body's data, and the body is forwarded framing and all. What the
    framing carries beyond its chunks' needs (extensions, trailer fields) is held to header_block
    (4k here), as Node.js bounds chunk extensions since CVE-2024-22019; before, 50 KB of
    extensions around 50 data bytes passed a 1 KiB body_size to the upstream whole."""
    received = []

    def count_bytes(sock):
        with sock:
            while data := sock.recv(65536):
                received.append(len(data))

    lsock, addr = serve_in_threads(count_bytes)
    try:
        sb = switchboard(config=make_config([service("app", [addr])], limits=LIMITS))
        with RawConn(sb.port, timeout=5) as c:
            c.send(req("POST / HTTP/1.1", "Host: t", "Transfer-Encoding: chunked"))
            # The head goes ahead of the body, so the body is checked as it streams.
            wait_until(lambda: received, 5, message="the head reached the upstream")
            try:
                for _ in range(50):
                    c.send(b"1;" + b"e" * 1000 + b"\r\nX\r\n")
                c.send(b"0\r\n\r\n")
            except OSError:
                pass  # refused while sending
            r = c.read_response()
            assert r.status == 413, r
        assert sum(received) < 4096 + 1024, f"{sum(received)} bytes reached the upstream"
    finally:
        lsock.close()


def test_rejection_after_a_good_request_on_the_same_connection(proxy):
    be, sb = proxy
    before = be.head_count()
    with RawConn(sb.port) as c:
        assert c.request(path="/good").status == 200
        c.send(req("GET / HTTP/1.1", "Host: t", "Content-Length: 1", "Content-Length: 2"))
        assert c.read_response().status == 400
        assert c.closed_within(3)
    assert be.head_count() == before + 1


def test_pipelined_smuggling_attempt_stops_at_the_bad_request(proxy):
    be, sb = proxy
    before = be.head_count()
    data = (req("GET /one HTTP/1.1", "Host: t")
            + req("POST /two HTTP/1.1", "Host: t", "Content-Length: 4", "Transfer-Encoding: chunked",
                  body=b"0\r\n\r\n")
            + req("GET /three HTTP/1.1", "Host: t"))
    with RawConn(sb.port) as c:
        c.send(data)
        assert c.read_response().json()["target"] == "/one"
        assert c.read_response().status == 400
        assert c.closed_within(3)
    assert be.head_count() == before + 1
    assert be.last().target == "/one"


def test_http10_without_host_is_accepted(proxy):
    be, sb = proxy
    with RawConn(sb.port) as c:
        c.send(b"GET /old HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200


def test_limits_leave_room_for_requests_just_under_them(proxy):
    be, sb = proxy
    r = request(sb.port, path="/" + "a" * 900)
    assert r.status == 200
    r = request(sb.port, headers=[(f"X-H{i}", "v") for i in range(15)])
    assert r.status == 200
    r = request(sb.port, "POST", "/", body=b"z" * 1024)
    assert r.status == 200 and r.json()["body_len"] == 1024
