"""Errors the proxy makes itself: 502 for an upstream that refuses, resets or answers garbage, 504
for one that does not answer (or connect) in time, 503 when a service has no instance. Each with a
short body, and the proxy keeps serving afterwards."""

import time

import pytest

from harness import (BlackholePort, heads_received, lb_status, make_config, pattern_bytes, proxy_for, serve_in_threads, service,
                     short_body)
from rawhttp import Incomplete, RawConn, nothing_more, request


def error_twice_on_one_connection(port, path, status, method="GET", body=None):
    """The error answers the request exactly once, and the connection (if kept) serves the next."""
    with RawConn(port) as c:
        r = c.request(method, path, body=body)
        assert r.status == status and short_body(r), r
        if not c.closed_within(0.3):
            assert not c.buf, f"unsolicited bytes after the {status}: {bytes(c.buf)[:200]!r}"
            r = c.request(method, path, body=body)
            assert r.status == status and short_body(r), r
            nothing_more(c)
        else:
            assert not c.buf, f"unsolicited bytes after the {status}: {bytes(c.buf)[:200]!r}"


@pytest.fixture
def echo_proxy(echo_backend, switchboard):
    be = echo_backend()
    sb = proxy_for(switchboard, [be.addr], timeouts={"upstream_response": "500ms", "upstream_connect": "500ms"})
    return be, sb


def test_upstream_garbage_is_502(echo_proxy):
    be, sb = echo_proxy
    r = request(sb.port, path="/?mode=garbage")
    assert r.status == 502 and short_body(r)
    assert "NOT HTTP" not in r.text
    error_twice_on_one_connection(sb.port, "/?mode=garbage", 502)
    assert request(sb.port).status == 200


@pytest.mark.parametrize("head, reason", [
    (b"X-Big: " + b"a" * 40000 + b"\r\n", "upstream response head too large"),
    (b"".join(b"X-%d: 1\r\n" % i for i in range(300)), "upstream response has too many header fields"),
], ids=["size", "count"])
def test_upstream_head_over_a_limit_is_502_naming_the_limit(switchboard, head, reason):
    """A response head over 32 KiB (the session's upstream buffer) or over 256 fields (the parser's
    table) is a 502 that says which limit, as HAProxy's (101 fields) and nginx's (its 4-8 KiB
    proxy buffer) are; not a relayed head."""
    heads = []

    def answer(sock):
        with sock:
            for request_head in heads_received(sock):
                heads.append(request_head)
                big = b"/big" in request_head.split(b"\r\n")[0]
                sock.sendall(b"HTTP/1.1 200 OK\r\n" + (head if big else b"") + b"Content-Length: 2\r\n\r\nok")

    lsock, addr = serve_in_threads(answer)
    try:
        svc = service("up", [addr])
        svc["health"] = {"max_fails": 0}  # the next request finds the instance in rotation
        sb = switchboard(config=make_config([svc]))
        r = request(sb.port, path="/big")
        assert r.status == 502 and short_body(r) and reason in r.text, r
        assert request(sb.port).body == b"ok"
    finally:
        lsock.close()


@pytest.mark.parametrize("value", [b"", b" \t "], ids=["empty", "blank"])
def test_upstream_transfer_encoding_naming_no_coding_is_502(switchboard, value):
    """An empty Transfer-Encoding is no framing to the parser, which would read the body to the
    close and relay the empty field with it; a client that takes the field for chunked reads those
    bytes as chunks. A 502, as for any coding list that does not end in chunked."""
    def answer(sock):
        with sock:
            for _ in heads_received(sock):
                sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding:" + value + b"\r\n\r\n"
                             b"5\r\nhello\r\n0\r\n\r\n")
                return

    lsock, addr = serve_in_threads(answer)
    try:
        sb = switchboard(config=make_config([service("up", [addr])]))
        r = request(sb.port)
        assert r.status == 502 and short_body(r), r
    finally:
        lsock.close()


def test_upstream_refusing_connection_is_502(refusing_port, switchboard):
    dead = refusing_port()
    sb = proxy_for(switchboard, [dead.addr])
    started = time.monotonic()
    r = request(sb.port)
    assert r.status == 502 and short_body(r)
    assert time.monotonic() - started < 5
    error_twice_on_one_connection(sb.port, "/again", 502)
    error_twice_on_one_connection(sb.port, "/post", 502, "POST", b"data")


def test_upstream_reset_before_any_byte_is_502(echo_proxy):
    be, sb = echo_proxy
    r = request(sb.port, "POST", "/?mode=reset", body=b"x" * 10)  # POST: not retried elsewhere
    assert r.status == 502 and short_body(r)
    error_twice_on_one_connection(sb.port, "/?mode=reset", 502, "POST", b"x" * 10)
    assert request(sb.port).status == 200


def test_upstream_reset_mid_response_closes_client(echo_proxy):
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        c.send(b"GET /?mode=resetmid&size=1000000 HTTP/1.1\r\nHost: t\r\n\r\n")
        try:
            r = c.read_response()
        except Incomplete as exc:
            assert exc.response.status == 200
            assert len(exc.response.body) < 1000000
        else:
            # The proxy may have had nothing to send yet and answered 502 instead.
            assert r.status == 502, r
        assert c.closed_within(3)
    assert request(sb.port).status == 200


def test_upstream_response_timeout_is_504(echo_proxy):
    be, sb = echo_proxy
    started = time.monotonic()
    r = request(sb.port, path="/?mode=hang")
    elapsed = time.monotonic() - started
    assert r.status == 504 and short_body(r)
    assert 0.4 <= elapsed < 5, elapsed
    error_twice_on_one_connection(sb.port, "/?mode=hang", 504)
    assert request(sb.port).status == 200


def test_slow_response_inside_the_timeout_is_served(echo_proxy):
    be, sb = echo_proxy
    r = request(sb.port, path="/?delay_ms=200")
    assert r.status == 200


def test_upstream_connect_timeout_is_504(procs, switchboard):
    hole = procs.add(BlackholePort())
    sb = proxy_for(switchboard, [hole.addr], timeouts={"upstream_connect": "300ms"})
    started = time.monotonic()
    r = request(sb.port)
    elapsed = time.monotonic() - started
    assert r.status == 504 and short_body(r)
    assert elapsed < 5, elapsed


def test_service_without_instances_is_503(echo_backend, switchboard):
    be = echo_backend()
    cfg = make_config([service("empty", []), service("full", [be.addr])],
                      routes=[{"path_prefix": "/empty", "service": "empty"}, {"path_prefix": "/", "service": "full"}])
    sb = switchboard(config=cfg)
    r = request(sb.port, path="/empty/x")
    assert r.status == 503 and short_body(r)
    error_twice_on_one_connection(sb.port, "/empty/y", 503)
    assert request(sb.port, path="/x").status == 200
    assert be.head_count() == 1


def test_error_statuses_are_not_swallowed_from_upstream(echo_proxy):
    """Statuses the upstream sends itself pass through untouched, bodies included."""
    be, sb = echo_proxy
    for status in (404, 500, 503):
        r = request(sb.port, path=f"/?status={status}&size=100")
        assert r.status == status and r.body == pattern_bytes(100)


def test_one_dead_instance_does_not_fail_get_requests(refusing_port, nginx_backends, switchboard):
    """A connection refused is an error before anything was sent: a GET is tried on the next
    instance (nginx's default `proxy_next_upstream error timeout`)."""
    nb = nginx_backends(2)
    dead = refusing_port()
    sb = proxy_for(switchboard, [nb.addrs[0], dead.addr, nb.addrs[1]])
    statuses = [request(sb.port).status for _ in range(9)]
    assert statuses == [200] * 9


@pytest.mark.parametrize("connection", ["close", "keep-alive"])
def test_an_answer_before_the_whole_body_reaches_the_client(switchboard, connection):
    """An upstream that answers 413 after the head and closes, while the client is still sending
    a large body: the client gets that 413 (not a 502 for the failed body write), and its
    connection closes, since the rest of its body is never read. The upstream connection never
    goes back to the pool, even when the 413 said keep-alive: the request was cut short on it."""
    answer = (f"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: {connection}\r\n\r\n"
              "too large").encode()

    def refuse_after_head(sock):
        with sock:
            head = b""
            while b"\r\n\r\n" not in head:
                data = sock.recv(65536)
                if not data:
                    return
                head += data
            sock.sendall(answer)

    lsock, addr = serve_in_threads(refuse_after_head)
    try:
        sb = switchboard(config=make_config([service("up", [addr])]))
        body = pattern_bytes(20_000_000)  # far beyond what the socket buffers hold
        with RawConn(sb.port, timeout=10) as c:
            try:
                c.send(f"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            except OSError:
                pass  # the proxy stopped reading the body and closed
            r = c.read_response()
            assert r.status == 413 and r.body == b"too large", r
            assert r.header("Connection") == "close"
            assert c.closed_within(3)
        assert lb_status(sb.port)["services"][0]["instances"][0]["connections"] == {"open": 0, "idle": 0}
    finally:
        lsock.close()
