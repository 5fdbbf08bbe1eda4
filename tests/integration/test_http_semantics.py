"""HTTP/1.1 semantics through the proxy (RFC 9110/9112): keep-alive on both sides, pipelining,
request and response body framing, hop-by-hop headers, forwarding headers, bodiless responses,
interim responses and Expect: 100-continue, and close-delimited responses."""

import contextlib
import hashlib
import re
import socket
import time

import pytest

from harness import (heads_received, lb_status, make_config, pattern_bytes, proxy_for, serve_in_threads, service,
                     wait_until)
from rawhttp import RawConn, build_request, chunked, request


@pytest.fixture
def echo_proxy(echo_backend, switchboard):
    be = echo_backend()
    sb = proxy_for(switchboard, [be.addr])
    return be, sb


@contextlib.contextmanager
def proxy_to_canned_answers(switchboard, *answers):
    """A switchboard in front of a raw backend that answers the requests it reads (heads without
    bodies), in order, with `answers`: the bytes a backend that breaks a rule would send."""
    remaining = iter(answers)

    def answer(sock):
        with sock:
            for _ in heads_received(sock):
                sock.sendall(next(remaining))

    lsock, addr = serve_in_threads(answer)
    try:
        yield switchboard(config=make_config([service("up", [addr])]))
    finally:
        lsock.close()


def names(headers):
    return {k.lower() for k, _ in headers}


# -- keep-alive ------------------------------------------------------------------------------


def test_many_requests_on_one_client_connection_reuse_one_upstream_connection(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    conns, reqs = [], []
    with RawConn(sb.port) as c:
        for i in range(100):
            r = c.request(path=f"/n/{i}")
            assert r.status == 200 and r.body == b"backend-0\n"
            conns.append(r.header("X-Conn"))
            reqs.append(int(r.header("X-Conn-Requests")))
        assert not c.closed_within(0)
    assert len(set(conns)) == 1, f"upstream connections used: {sorted(set(conns))}"
    assert reqs == list(range(reqs[0], reqs[0] + 100))


def test_upstream_connection_reused_across_client_connections(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    conns = [request(sb.port).header("X-Conn") for _ in range(20)]
    assert len(set(conns)) == 1, conns


def test_client_connection_close_is_honoured(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    with RawConn(sb.port) as c:
        r = c.request(headers={"Connection": "close"})
        assert r.status == 200 and r.body == b"backend-0\n"
        assert c.closed_within(3)


def test_http10_client_without_keepalive_is_closed(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    with RawConn(sb.port) as c:
        r = c.request(version="HTTP/1.0")
        assert r.status == 200 and r.body == b"backend-0\n"
        assert c.closed_within(3)


# -- pipelining ------------------------------------------------------------------------------


def test_pipelined_requests_answered_in_order(echo_proxy):
    be, sb = echo_proxy
    body = pattern_bytes(3000)
    data = (build_request("GET", "/first") + build_request("POST", "/second", body=body)
            + build_request("GET", "/third"))
    with RawConn(sb.port) as c:
        c.send(data)
        got = [c.read_response() for _ in range(3)]
    assert [r.status for r in got] == [200, 200, 200]
    assert [r.json()["target"] for r in got] == ["/first", "/second", "/third"]
    assert got[1].json()["body_len"] == len(body)
    assert got[1].json()["body_sha256"] == hashlib.sha256(body).hexdigest()


def test_pipelined_requests_to_nginx_keep_their_statuses_in_order(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    paths = ["/204", "/", "/404", "/500", "/"]
    with RawConn(sb.port) as c:
        c.send(b"".join(build_request("GET", p) for p in paths))
        got = [c.read_response() for _ in paths]
    assert [r.status for r in got] == [204, 200, 404, 500, 200]
    assert got[0].body == b"" and got[1].body == b"backend-0\n"


# -- request bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 65537, 5 * 1024 * 1024])
def test_content_length_body_arrives_intact(echo_proxy, size):
    be, sb = echo_proxy
    body = pattern_bytes(size)
    r = request(sb.port, "POST", "/upload", body=body)
    assert r.status == 200
    info = r.json()
    assert info["body_len"] == size
    assert info["body_sha256"] == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("sizes", [[1], [7, 1000, 3], [65536], [300000]], ids=str)
def test_chunked_body_arrives_intact(echo_proxy, sizes):
    be, sb = echo_proxy
    body = pattern_bytes(sum(sizes) * 3 + 11)
    with RawConn(sb.port) as c:
        c.send(build_request("POST", "/chunked", headers={"Transfer-Encoding": "chunked"})
               + chunked(body, sizes))
        r = c.read_response()
        assert r.status == 200
        info = r.json()
        assert info["body_len"] == len(body)
        assert info["body_sha256"] == hashlib.sha256(body).hexdigest()
        # The connection stays usable: framing ended exactly at the last-chunk.
        assert c.request(path="/after").json()["target"] == "/after"


def test_chunked_body_with_extensions_and_trailers(echo_proxy):
    be, sb = echo_proxy
    raw = (b"POST /ext HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;name=value\r\nhello\r\n6;x\r\n world\r\n0\r\nX-Checksum: abc\r\nX-Empty:\r\n"
           b"X-Spaced:  a  b \r\n\r\n")
    with RawConn(sb.port) as c:
        c.send(raw)
        r = c.read_response()
        assert r.status == 200
        assert r.json()["body_len"] == 11
        assert r.json()["body_sha256"] == hashlib.sha256(b"hello world").hexdigest()
        assert r.json()["trailers"] == ["X-Checksum: abc", "X-Empty:", "X-Spaced:  a  b "]
        assert c.request(path="/after").status == 200


def test_extension_methods_are_forwarded(echo_proxy):
    """RFC 9110 9.1: a method is any token; a proxy forwards one it does not know, as nginx and
    HAProxy do (llhttp 8.1 alone refuses QUERY). Lower case stays a 400, as in nginx: "head" is not
    HEAD to the proxy, which would wait for the body a lenient server reading HEAD never sends."""
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        for method in ["QUERY", "PURGE-ALL", "MY_METHOD"]:
            r = c.request(method, "/m?x=1", body=b"select 1")
            info = r.json()
            assert (r.status, info["method"], info["target"], info["body_len"]) == \
                (200, method, "/m?x=1", 8), method
    for method in ["get", "Query", "M1"]:
        r = request(sb.port, method, "/m")
        assert r.status == 400, method


def test_framing_fields_reach_the_upstream_in_their_canonical_spelling(echo_proxy):
    """The body goes upstream framed as it came, so the next hop must read its framing fields as
    the proxy did. A reader that knows "chunked" alone takes ",chunked" or "ChUnKeD" for an unknown
    coding and the chunks for the next request (http-garden's transducer bugs 9 and 18), and one
    that uses strtol's base 0 reads "010" as eight (its server bug 32): both go as nginx writes
    them."""
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        for coding in [",chunked", "ChUnKeD", " , chunked"]:
            c.send(build_request("POST", "/te", headers={"Transfer-Encoding": coding})
                   + b"5\r\nhello\r\n0\r\n\r\n")
            info = c.read_response().json()
            assert forwarded(info, "transfer-encoding") == ["chunked"], coding
            assert info["body_len"] == 5, coding
        c.send(build_request("POST", "/cl", headers={"Content-Length": "010"}) + b"0123456789")
        info = c.read_response().json()
        assert (forwarded(info, "content-length"), info["body_len"]) == (["10"], 10)
        # A coding before chunked is one the proxy cannot check: 501, as nginx and Envoy answer.
        before = be.head_count()
        c.send(build_request("POST", "/gzip", headers={"Transfer-Encoding": "gzip, chunked"})
               + b"0\r\n\r\n")
        assert c.read_response().status == 501
        assert be.head_count() == before


def test_framing_fields_reach_the_client_in_their_canonical_spelling(switchboard):
    """The response side of the test above: the client gets "chunked" and a length without
    leading zeros, whatever spelling the backend used."""
    with proxy_to_canned_answers(
            switchboard, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: , ChUnKeD\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 0002\r\n\r\nok") as sb, RawConn(sb.port) as c:
        r = c.request()
        assert (r.header_all("Transfer-Encoding"), r.body) == (["chunked"], b"ok"), r
        r = c.request()
        assert (r.header_all("Content-Length"), r.body) == (["2"], b"ok"), r


# -- response bodies -------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 10, 200000])
def test_chunked_response_relayed(echo_proxy, size):
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        r = c.request(path=f"/?chunked=1&size={size}")
        assert r.status == 200
        assert r.body == pattern_bytes(size)
        r2 = c.request(path="/next")
        assert r2.status == 200 and r2.json()["target"] == "/next"


def test_http10_client_gets_chunked_response_without_chunked_coding(echo_proxy):
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        r = c.request(path="/?chunked=1&size=50000", version="HTTP/1.0")
        assert r.status == 200
        assert "chunked" not in ",".join(r.header_all("Transfer-Encoding")).lower()
        assert r.framing in ("length", "close")
        assert r.body == pattern_bytes(50000)


def test_large_content_length_response(echo_proxy):
    be, sb = echo_proxy
    r = request(sb.port, path=f"/?size={8 * 1024 * 1024}")
    assert r.status == 200 and r.framing == "length"
    assert r.body == pattern_bytes(8 * 1024 * 1024)


def read_head_within(port, path, seconds):
    """Sends GET `path` and reads until the response head and at least one body byte are in;
    returns (what was read, seconds it took), or fails after `seconds`."""
    with socket.create_connection(("127.0.0.1", port), timeout=seconds) as s:
        started = time.monotonic()
        s.sendall(build_request(path=path))
        got = b""
        while b"\r\n\r\n" not in got or got.endswith(b"\r\n\r\n"):
            more = s.recv(65536)
            assert more, f"connection closed after {got!r}"
            got += more
        return got, time.monotonic() - started


@pytest.mark.parametrize("path", ["/?chunked=1&size=50000&pause_ms=2500",
                                  "/?size=200000&pause_ms=2500"])
def test_a_stream_that_pauses_is_relayed_before_the_pause_ends(echo_proxy, path):
    # What the upstream sent before pausing reaches the client at once: neither a chunked body
    # nor a long Content-Length one is held back waiting for the rest. (A write held back with
    # MSG_MORE goes out after 200 ms at the latest, so the bound is below that.)
    be, sb = echo_proxy
    got, took = read_head_within(sb.port, path, 10)
    assert got.startswith(b"HTTP/1.1 200")
    assert took < 0.15, f"the first part took {took * 1000:.0f} ms to arrive"


@pytest.mark.parametrize("size", [1024, 20000])
def test_a_short_body_that_comes_after_its_head_arrives_whole(echo_proxy, size):
    # The head goes out with MSG_MORE when the rest of a short body is expected at once; when it
    # comes late, the write of the rest still sends everything.
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        r = c.request(path=f"/?size={size}&pause_ms=300")
        assert r.status == 200 and r.framing == "length"
        assert r.body == pattern_bytes(size)
        assert c.request(path="/next").json()["target"] == "/next"


# -- headers ---------------------------------------------------------------------------------


def test_hop_by_hop_request_headers_are_removed(echo_proxy):
    be, sb = echo_proxy
    r = request(sb.port, path="/h", headers=[
        ("Connection", "keep-alive, X-Hop-Custom"),
        ("X-Hop-Custom", "must-not-pass"),
        ("Keep-Alive", "timeout=300"),
        ("Proxy-Connection", "keep-alive"),
        ("X-End-To-End", "passes"),
    ])
    assert r.status == 200
    seen = r.json()["headers"]
    seen_names = names(seen)
    assert "x-hop-custom" not in seen_names
    assert "keep-alive" not in seen_names
    assert "proxy-connection" not in seen_names
    for k, v in seen:
        if k.lower() == "connection":
            assert "x-hop-custom" not in v.lower()
    assert ("X-End-To-End", "passes") in [tuple(h) for h in seen]


def test_hop_by_hop_response_headers_are_removed(echo_proxy):
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        r = c.request(path="/?hop=1")
        assert r.status == 200
        assert not r.has("X-Resp-Hop")
        assert not r.has("Proxy-Connection")
        assert r.header("Keep-Alive") != "timeout=5, max=7"
        for v in r.header_all("Connection"):
            assert "x-resp-hop" not in v.lower()
        assert r.header("X-End-To-End") == "kept"
        assert c.request().status == 200


def test_host_header_is_kept(echo_proxy):
    be, sb = echo_proxy
    r = request(sb.port, host="Shop.Example.TEST:8443")
    hosts = [v for k, v in r.json()["headers"] if k.lower() == "host"]
    assert hosts == ["Shop.Example.TEST:8443"]


def forwarded(info, name):
    return [v for k, v in info["headers"] if k.lower() == name.lower()]


def test_forwarding_headers_set_for_a_fresh_request(echo_proxy):
    be, sb = echo_proxy
    info = request(sb.port).json()
    assert forwarded(info, "X-Forwarded-For") == ["127.0.0.1"]
    assert forwarded(info, "X-Forwarded-Proto") == ["http"]
    assert forwarded(info, "X-Real-IP") == ["127.0.0.1"]


def test_x_forwarded_for_is_appended(echo_proxy):
    be, sb = echo_proxy
    info = request(sb.port, headers=[("X-Forwarded-For", "203.0.113.7")]).json()
    assert ", ".join(forwarded(info, "X-Forwarded-For")).replace(" ", "") == "203.0.113.7,127.0.0.1"
    info = request(sb.port, headers=[("X-Forwarded-For", "203.0.113.7, 198.51.100.2"),
                                     ("X-Forwarded-For", "192.0.2.9")]).json()
    assert ", ".join(forwarded(info, "X-Forwarded-For")).replace(" ", "") == \
        "203.0.113.7,198.51.100.2,192.0.2.9,127.0.0.1"


def test_client_supplied_real_ip_and_proto_are_replaced(echo_proxy):
    be, sb = echo_proxy
    info = request(sb.port, headers=[("X-Real-IP", "6.6.6.6"), ("X-Forwarded-Proto", "https")]).json()
    assert forwarded(info, "X-Real-IP") == ["127.0.0.1"]
    assert forwarded(info, "X-Forwarded-Proto") == ["http"]


def test_a_trusted_proxy_in_front_is_believed_about_the_client(echo_backend, switchboard):
    """Behind a TLS terminator or load balancer listed in trusted_proxies, the backend hears of the
    client that proxy reported: X-Real-IP is the right-most untrusted X-Forwarded-For address
    (nginx's realip), and the proxy's X-Forwarded-Proto stands when it says http or https
    (Traefik's trustedIPs), so an application behind both builds https links. Before, the backend
    got X-Real-IP 127.0.0.1 and X-Forwarded-Proto http."""
    be = echo_backend()
    sb = switchboard(config=make_config([service("app", [be.addr])], trusted_proxies=["127.0.0.1"]))
    info = request(sb.port, headers=[("X-Forwarded-For", "6.6.6.6, 203.0.113.7"),
                                     ("X-Forwarded-Proto", "https"), ("X-Real-IP", "6.6.6.6")]).json()
    assert forwarded(info, "X-Real-IP") == ["203.0.113.7"]
    assert forwarded(info, "X-Forwarded-Proto") == ["https"]
    assert forwarded(info, "X-Forwarded-For") == ["6.6.6.6, 203.0.113.7, 127.0.0.1"]
    # A scheme other than http or https, or a chain of them, is not believed.
    for proto in ("javascript", "https, http"):
        info = request(sb.port, headers=[("X-Forwarded-Proto", proto)]).json()
        assert forwarded(info, "X-Forwarded-Proto") == ["http"], proto
        assert forwarded(info, "X-Real-IP") == ["127.0.0.1"]


def test_other_spellings_of_the_forwarding_headers_are_dropped(echo_proxy):
    """PHP, WSGI and Rack read X_Real_IP as X-Real-IP (both are HTTP_X_REAL_IP): a client must not
    get one of the proxy's own fields past it under the other spelling. Other fields with
    underscores pass."""
    be, sb = echo_proxy
    info = request(sb.port, headers=[("X_Real_IP", "6.6.6.6"), ("x-forwarded_for", "6.6.6.6"),
                                     ("X_FORWARDED_PROTO", "https"), ("X_Tenant", "t1")]).json()
    names = [k for k, _ in info["headers"]]
    assert not [n for n in names if "_" in n and n.lower() != "x_tenant"], names
    assert forwarded(info, "X_Tenant") == ["t1"]
    assert forwarded(info, "X-Real-IP") == ["127.0.0.1"]
    assert forwarded(info, "X-Forwarded-For") == ["127.0.0.1"]


def test_forwarding_headers_with_nginx(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    r = request(sb.port, path="/headers", host="site.example", headers={"X-Forwarded-For": "10.1.2.3"})
    fields = dict(f.split("=", 1) for f in r.body.decode().strip().split("|"))
    assert fields["host"] == "site.example"
    assert fields["xff"].replace(" ", "") == "10.1.2.3,127.0.0.1"
    assert fields["proto"] == "http"
    assert fields["real"] == "127.0.0.1"
    assert fields["uri"] == "/headers"


IMF_FIXDATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d\d:\d\d:\d\d GMT")


def test_every_response_carries_one_date(echo_proxy, nginx_backends, switchboard):
    """RFC 9110 6.6.1: the proxy dates what it answers itself, and a response forwarded without a
    Date (the echo backend sends none); one that has a Date (nginx's) keeps that one."""
    be, sb = echo_proxy
    for r in (request(sb.port, path="/"), request(sb.port, path="/lb-health"),
              request(sb.port, path="/lb-status"), request(sb.port, path="/?mode=garbage")):
        dates = r.header_all("Date")
        assert len(dates) == 1 and IMF_FIXDATE.fullmatch(dates[0]), (r.status, dates)
    nb = nginx_backends(1)
    via_nginx = proxy_for(switchboard, nb.addrs)
    r = request(via_nginx.port, path="/")
    assert len(r.header_all("Date")) == 1 and IMF_FIXDATE.fullmatch(r.header("Date")), r.headers


# -- bodiless responses ----------------------------------------------------------------------


def test_head_response_has_no_body(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    with RawConn(sb.port) as c:
        c.send(build_request("HEAD", "/") + build_request("GET", "/"))
        r = c.read_response(method="HEAD")
        assert r.status == 200 and r.body == b""
        assert r.header("Content-Length") == "10"
        r = c.read_response()  # would be garbled if the HEAD answer had carried a body
        assert r.status == 200 and r.body == b"backend-0\n"


def test_head_through_echo_backend(echo_proxy):
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        r = c.request("HEAD", "/?size=5000")
        assert r.status == 200 and r.header("Content-Length") == "5000"
        r = c.request("GET", "/?size=10")
        assert r.body == pattern_bytes(10)


def test_204_has_no_body(nginx_backends, echo_backend, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    with RawConn(sb.port) as c:
        c.send(build_request("GET", "/204") + build_request("GET", "/"))
        r = c.read_response()
        assert r.status == 204 and r.body == b""
        assert not r.has("Transfer-Encoding")
        assert c.read_response().body == b"backend-0\n"


def test_a_reason_phrase_with_a_control_byte_goes_out_empty(switchboard):
    """RFC 9112 4: a reason phrase is HTAB, SP, VCHAR and obs-text, and an intermediary may
    overwrite it. llhttp lets a NUL or an escape sequence through there, and nginx and HAProxy
    relay them; the client, its terminal and its logs get an empty phrase instead. A valid phrase
    (obs-text included) is relayed as it came."""
    with proxy_to_canned_answers(
            switchboard, b"HTTP/1.1 200 O\x00K\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 200 \x1b[31mRed\r\nContent-Length: 2\r\n\r\nok",
            b"HTTP/1.1 200 Tr\xe8s bien\r\nContent-Length: 2\r\n\r\nok") as sb:
        with socket.create_connection(("127.0.0.1", sb.port)) as s:
            s.settimeout(5)
            lines = []
            for _ in range(3):
                s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
                head = b""
                while not head.endswith(b"\r\n\r\nok"):
                    head += s.recv(1)
                lines.append(head.split(b"\r\n")[0])
    assert lines == [b"HTTP/1.1 200 ", b"HTTP/1.1 200 ", b"HTTP/1.1 200 Tr\xe8s bien"], lines


def test_length_fields_of_a_1xx_or_204_are_not_relayed(switchboard):
    """RFC 9110 8.6 and RFC 9112 6.1: a sender must not put Content-Length or Transfer-Encoding on
    a 1xx or a 204. A backend's stray ones are dropped (as HAProxy drops both; nginx drops the
    Transfer-Encoding), so a client that reads them as framing is not left waiting for a body; the
    next answer still arrives."""
    with proxy_to_canned_answers(
            switchboard,
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\nContent-Length: 0\r\n\r\n"
            b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-Kept: yes\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") as sb, RawConn(sb.port) as c:
        r = c.request()
        assert [(i.status, i.has("Content-Length")) for i in r.interim] == [(103, False)], r
        assert r.interim[0].header("Link") == "</a.css>"
        assert (r.status, r.header("X-Kept"), r.has("Content-Length")) == (204, "yes", False), r
        r = c.request()
        assert (r.status, r.has("Transfer-Encoding"), r.body) == (204, False, b""), r
        r = c.request()
        assert (r.status, r.body) == (200, b"ok"), r


def test_304_has_no_body_even_with_content_length(echo_proxy):
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        # The backend's 304 says Content-Length: <n> but (correctly) sends no body.
        c.send(build_request("GET", "/?status=304&size=1234") + build_request("GET", "/?size=7"))
        r = c.read_response()
        assert r.status == 304 and r.body == b""
        r = c.read_response()
        assert r.status == 200 and r.body == pattern_bytes(7)


def test_304_from_nginx_conditional_get(nginx_backends, switchboard):
    nb = nginx_backends(1)
    (nb.files / "page.html").write_bytes(b"<html>cached</html>\n")
    sb = proxy_for(switchboard, nb.addrs)
    with RawConn(sb.port) as c:
        r = c.request(path="/files/page.html")
        assert r.status == 200 and r.body == b"<html>cached</html>\n"
        etag = r.header("ETag")
        assert etag
        r = c.request(path="/files/page.html", headers={"If-None-Match": etag})
        assert r.status == 304 and r.body == b""
        assert c.request(path="/").body == b"backend-0\n"


# -- interim responses -----------------------------------------------------------------------


@pytest.mark.parametrize("hints", [1, 2])
def test_early_hints_are_relayed(echo_proxy, hints):
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        r = c.request(path=f"/?hints={hints}")
        assert [i.status for i in r.interim] == [103] * hints
        assert r.interim[0].header("Link") == "</style.css>; rel=preload; as=style"
        assert r.status == 200 and r.json()["target"] == f"/?hints={hints}"
        assert c.request(path="/again").status == 200


def test_no_interim_response_reaches_an_http10_client(echo_proxy):
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        c.send(build_request("GET", "/?hints=2", version="HTTP/1.0"))
        r = c.read_response(interim=False)
        assert r.status == 200, r
        assert r.json()["target"] == "/?hints=2"


def test_expect_100_continue_from_an_http10_client_is_ignored(echo_proxy):
    be, sb = echo_proxy
    body = pattern_bytes(1000)
    with RawConn(sb.port) as c:
        c.send(build_request("POST", "/expect10", headers=[("Expect", "100-continue"),
                                                           ("Content-Length", str(len(body)))],
                             version="HTTP/1.0"))
        # RFC 9110 10.1.1: an HTTP/1.0 request's Expect is ignored, so the client gets no 100;
        # it sends its body after a while anyway, as HTTP/1.0 clients do.
        assert c.still_open_after(0.3), "the proxy answered an HTTP/1.0 Expect"
        c.send(body)
        r = c.read_response(interim=False)
        assert r.status == 200, r
        assert r.json()["body_len"] == len(body)


def test_expect_100_continue_gets_exactly_one_100(echo_proxy):
    be, sb = echo_proxy
    body = pattern_bytes(20000)
    with RawConn(sb.port) as c:
        c.send(build_request("POST", "/expect", headers=[("Expect", "100-continue"),
                                                         ("Content-Length", str(len(body)))]))
        first = c.read_response(interim=False)  # the client waits for it before sending the body
        assert first.status == 100
        c.send(body)
        r = c.read_response()
        assert r.status == 200
        assert r.interim == [], "a second 100 Continue reached the client"
        info = r.json()
        assert info["body_len"] == len(body)
        assert info["body_sha256"] == hashlib.sha256(body).hexdigest()
        assert forwarded(info, "Expect") == [], "Expect was forwarded upstream"
        # Nothing stray follows on the connection.
        r = c.request(path="/next")
        assert r.status == 200 and r.interim == []
    assert be.continues_sent == 0


def test_expect_100_continue_with_body_sent_at_once(echo_proxy):
    be, sb = echo_proxy
    body = pattern_bytes(1000)
    with RawConn(sb.port) as c:
        c.send(build_request("POST", "/eager", headers=[("Expect", "100-continue")], body=body)
               + build_request("GET", "/after"))
        r = c.read_response()
        assert r.status == 200 and len(r.interim) <= 1
        assert all(i.status == 100 for i in r.interim)
        assert r.json()["body_len"] == 1000
        r = c.read_response()
        assert r.status == 200 and r.interim == [] and r.json()["target"] == "/after"


# -- responses delimited by close, and upstream framing doubts ------------------------------


def test_response_without_length_is_read_to_close(echo_proxy):
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        r = c.request(path="/?mode=close&size=300000")
        assert r.status == 200
        assert r.body == pattern_bytes(300000)
        if r.framing != "close":  # re-framed as chunked is fine, then the connection may live on
            assert r.framing == "chunked"
        else:
            assert c.closed_within(3)
    first_conn = be.completed()[-1].conn_id
    r = request(sb.port, path="/next")
    assert r.status == 200
    assert r.json()["conn"] != first_conn


def test_upstream_sending_extra_bytes_is_not_reused(echo_proxy):
    """Bytes behind a complete response (here in the same segment): the connection is in doubt
    and must be closed, never pooled, or they become the answer to someone else's request."""
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        r = c.request(path="/?junk=1")
        assert r.status == 200 and r.json()["target"] == "/?junk=1"
        for i in range(5):
            r = c.request(path=f"/after/{i}")
            assert r.status == 200, r
            assert not r.has("X-Smuggled")
            assert r.json()["target"] == f"/after/{i}"


def test_idle_pooled_connection_that_receives_bytes_is_not_reused(echo_proxy):
    """Bytes arriving on an idle pooled upstream connection (after the response was complete):
    the pool must notice and drop it before handing it to the next request."""
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        r = c.request(path="/?junk=late")
        assert r.status == 200 and r.json()["target"] == "/?junk=late"
        wait_until(lambda: be.junk_sent == 1, 5, message="backend sent the stray bytes")
        for i in range(5):
            r = c.request(path=f"/after/{i}")
            assert r.status == 200, r
            assert not r.has("X-Smuggled")
            assert r.json()["target"] == f"/after/{i}"


def test_a_post_is_never_sent_on_a_pooled_connection_with_stray_bytes(echo_proxy):
    """A GET may learn of stray bytes only as it goes (and then goes again on a fresh connection:
    it is idempotent); a POST must not reach a doubtful connection at all, so the backend sees it
    exactly once, on a fresh connection."""
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        r = c.request(path="/?junk=late")
        tainted = r.json()["conn"]
        wait_until(lambda: be.junk_sent == 1, 5, message="backend sent the stray bytes")
        r = c.request(method="POST", path="/order", body=b"one")
        assert r.status == 200 and not r.has("X-Smuggled")
    posts = [q for q in be.requests if q.method == "POST"]
    assert len(posts) == 1
    assert posts[0].conn_id != tainted


def test_http10_chunked_response_is_relayed_and_its_connection_not_reused(switchboard):
    """RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 response is faulty framing. The response
    is read (as chunked) and relayed, and its connection is not used again, though it says
    keep-alive: the sender may hold bytes that the next request would read as its answer."""
    connections = []

    def answer_chunked_in_http10(sock):
        connections.append(sock)
        with sock:
            for _ in heads_received(sock):
                sock.sendall(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"3\r\nabc\r\n0\r\n\r\n")

    lsock, addr = serve_in_threads(answer_chunked_in_http10)
    try:
        sb = switchboard(config=make_config([service("up", [addr])]))
        with RawConn(sb.port) as c:
            for _ in range(3):
                r = c.request()
                assert (r.status, r.body) == (200, b"abc"), r
        assert len(connections) == 3  # one upstream connection per response
        wait_until(lambda: lb_status(sb.port)["services"][0]["instances"][0]["connections"]
                   == {"open": 0, "idle": 0}, 5, message="the upstream connections closed")
    finally:
        lsock.close()


def test_pooled_connection_closed_by_upstream_is_retried(echo_proxy):
    be, sb = echo_proxy
    with RawConn(sb.port) as c:
        for i in range(20):
            # The backend closes each connection right after answering, without saying so.
            r = c.request(path=f"/?closeafter=1&i={i}")
            assert r.status == 200, (i, r)
            assert r.json()["conn_requests"] == 1


def test_upstream_connection_close_does_not_close_the_client(echo_proxy):
    be, sb = echo_proxy
    before = be.connections
    with RawConn(sb.port) as c:
        for i in range(5):
            # Each response says Connection: close and the backend closes; the client stays.
            r = c.request(path=f"/?connclose=1&i={i}")
            assert r.status == 200 and r.json()["conn_requests"] == 1
        assert not c.closed_within(0)
    assert be.connections - before == 5
