"""Balancing and routing: round robin (plain and weighted), routes by host and path prefix with
prefix stripping, the quick --backends form, and connection spread over worker threads."""

import json
import random
import re
import string
from collections import Counter

from harness import make_config, service, wait_until
from randomhttp import SEED
from rawhttp import RawConn, request


def backend_of(resp):
    assert resp.status == 200, resp
    return resp.header("X-Backend")


def test_round_robin_is_exactly_even_over_one_connection(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(["--backends", ",".join(nb.addrs), "--threads", "1", "--access-log", "off"])
    seen = []
    with RawConn(sb.port) as c:
        for _ in range(30):
            seen.append(backend_of(c.request()))
    assert Counter(seen) == {"backend-0": 10, "backend-1": 10, "backend-2": 10}
    # Strict rotation: every window of three consecutive requests visits all three.
    for i in range(0, 28):
        assert len(set(seen[i:i + 3])) == 3, seen


def test_round_robin_is_exactly_even_over_new_connections(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(["--backends", ",".join(nb.addrs), "--threads", "1", "--balance", "round_robin"])
    seen = Counter(backend_of(request(sb.port)) for _ in range(30))
    assert seen == {"backend-0": 10, "backend-1": 10, "backend-2": 10}


def test_weighted_round_robin_follows_weights(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(config=make_config([service("web", nb.addrs, weights=[1, 2, 3])]))
    seen = []
    with RawConn(sb.port) as c:
        for _ in range(60):
            seen.append(backend_of(c.request()))
    assert Counter(seen) == {"backend-0": 10, "backend-1": 20, "backend-2": 30}
    # Every full cycle of 6 requests already holds the exact proportions.
    for start in range(0, 60, 6):
        assert Counter(seen[start:start + 6]) == {"backend-0": 1, "backend-1": 2, "backend-2": 3}


def test_routes_by_host(nginx_backends, switchboard):
    nb = nginx_backends(3)
    cfg = make_config(
        [service("a", [nb.addrs[0]]), service("b", [nb.addrs[1]]), service("rest", [nb.addrs[2]])],
        routes=[
            {"host": "a.example", "path_prefix": "/", "service": "a"},
            {"host": "b.example", "service": "b"},
            {"path_prefix": "/", "service": "rest"},
        ])
    sb = switchboard(config=cfg)
    with RawConn(sb.port) as c:
        assert backend_of(c.request(host="a.example")) == "backend-0"
        assert backend_of(c.request(host="A.Example")) == "backend-0"  # case-insensitive
        assert backend_of(c.request(host="a.example:8080")) == "backend-0"  # port ignored
        assert backend_of(c.request(host="b.example", path="/x/y")) == "backend-1"
        assert backend_of(c.request(host="c.example")) == "backend-2"
        assert backend_of(c.request(host="a.example.evil")) == "backend-2"  # exact match only


def test_routes_by_path_prefix_and_strips_it(echo_backend, switchboard):
    api, web = echo_backend("api"), echo_backend("web")
    cfg = make_config(
        [service("api", [api.addr]), service("web", [web.addr])],
        routes=[
            {"path_prefix": "/api", "service": "api", "strip_prefix": True},
            {"path_prefix": "/", "service": "web"},
        ])
    sb = switchboard(config=cfg)
    cases = [
        ("/api/users?id=7", "api", "/users?id=7"),
        ("/api/", "api", "/"),
        ("/api", "api", "/"),
        ("/api?x=1", "api", "/?x=1"),
        ("/static/site.css", "web", "/static/site.css"),
        ("/", "web", "/"),
    ]
    with RawConn(sb.port) as c:
        for path, svc, upstream_target in cases:
            r = c.request(path=path)
            assert r.status == 200, (path, r)
            assert r.header("X-Backend") == svc, path
            assert r.json()["target"] == upstream_target, path


def test_host_and_path_routes_combine(echo_backend, switchboard):
    one, two, three = echo_backend("one"), echo_backend("two"), echo_backend("three")
    cfg = make_config(
        [service("one", [one.addr]), service("two", [two.addr]), service("three", [three.addr])],
        routes=[
            {"host": "shop.example", "path_prefix": "/api/", "service": "one", "strip_prefix": True},
            {"path_prefix": "/api/", "service": "two"},
            {"path_prefix": "/", "service": "three"},
        ])
    sb = switchboard(config=cfg)
    r = request(sb.port, path="/api/cart", host="shop.example")
    # Stripping "/api/" must still leave an origin-form target starting with "/".
    assert (r.header("X-Backend"), r.json()["target"]) == ("one", "/cart")
    r = request(sb.port, path="/api/cart", host="other.example")
    assert (r.header("X-Backend"), r.json()["target"]) == ("two", "/api/cart")
    r = request(sb.port, path="/index.html", host="shop.example")
    assert (r.header("X-Backend"), r.json()["target"]) == ("three", "/index.html")


def test_paths_are_routed_and_forwarded_in_normal_form(echo_backend, switchboard):
    # RFC 3986 6.2.2: "." and ".." segments removed and escaped unreserved characters decoded, so
    # no spelling of a path reaches a service its route did not choose, and the service sees the
    # path the route saw.
    public, admin, api = echo_backend("public"), echo_backend("admin"), echo_backend("api")
    cfg = make_config(
        [service("public", [public.addr]), service("admin", [admin.addr]), service("api", [api.addr])],
        routes=[
            {"path_prefix": "/admin/", "service": "admin"},
            {"path_prefix": "/api/", "service": "api", "strip_prefix": True},
            {"path_prefix": "/", "service": "public"},
        ])
    sb = switchboard(config=cfg)
    cases = [
        ("/public/../admin/x", "admin", "/admin/x"),
        ("/public/%2e%2E/admin/x", "admin", "/admin/x"),
        ("/public/.%2e/admin/x", "admin", "/admin/x"),
        ("/%61dmin/x", "admin", "/admin/x"),
        ("/../../admin/x", "admin", "/admin/x"),
        ("/admin/../public/x", "public", "/public/x"),
        ("/admin/./x/../y?q=/../z", "admin", "/admin/y?q=/../z"),  # the query is left as it is
        ("/api/../api/v1/./users", "api", "/v1/users"),
        ("/api/v1/..", "api", "/"),
        ("/public/a%2fb/..", "public", "/public/"),  # an escaped slash is not a boundary
        ("/public/a%2fb", "public", "/public/a%2Fb"),
        ("/admin/x", "admin", "/admin/x"),  # a normal path goes as it came
    ]
    with RawConn(sb.port) as c:
        for path, svc, upstream_target in cases:
            r = c.request(path=path)
            assert r.status == 200, (path, r)
            assert (r.header("X-Backend"), r.json()["target"]) == (svc, upstream_target), path


UNRESERVED = set(string.ascii_letters + string.digits + "-._~")


def rfc3986_normal_path(path):
    """The oracle, written from RFC 3986 as it reads (6.2.2.1-2, then 5.2.4's buffer algorithm),
    not from the proxy's code: escaped unreserved characters decoded, other escapes in upper case,
    then the dot segments removed."""
    decoded = re.sub(r"%([0-9A-Fa-f]{2})",
                     lambda m: chr(int(m[1], 16)) if chr(int(m[1], 16)) in UNRESERVED else "%" + m[1].upper(),
                     path)
    source, out = decoded, ""
    while source:
        if source.startswith("/./"):
            source = source[2:]
        elif source == "/.":
            source = "/"
        elif source.startswith("/../") or source == "/..":
            source = "/" + source[4:]
            out = out[:max(out.rfind("/"), 0)]
        else:
            end = source.find("/", 1)
            end = len(source) if end < 0 else end
            out, source = out + source[:end], source[end:]
    return out


def test_random_paths_reach_the_route_of_their_normal_form(echo_backend, switchboard):
    a, b, rest = echo_backend("a"), echo_backend("b"), echo_backend("rest")
    cfg = make_config(
        [service("a", [a.addr]), service("b", [b.addr]), service("rest", [rest.addr])],
        routes=[
            {"path_prefix": "/a/", "service": "a", "strip_prefix": True},
            {"path_prefix": "/b/", "service": "b"},
            {"path_prefix": "/", "service": "rest"},
        ])
    sb = switchboard(config=cfg)
    pieces = ["a", "b", "x", "", ".", "..", "%2e", "%2E%2e", ".%2E", "%61", "%62", "%7e", "%7E", "%2f",
              "%2F..", "%20", "%c3%a9", "a.b", "..a", ".a.", "~", "%41%2d"]
    rng = random.Random(SEED)
    with RawConn(sb.port) as c:
        for _ in range(400):
            path = "/" + "/".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
            query = rng.choice(["", "?q=/../%2e", "?"])
            normal = rfc3986_normal_path(path)
            if normal.startswith("/a/"):
                svc, target = "a", normal[2:] + query
            elif normal.startswith("/b/"):
                svc, target = "b", normal + query
            else:
                svc, target = "rest", normal + query
            r = c.request(path=path + query)
            assert r.status == 200, (path, r)
            assert (r.header("X-Backend"), r.json()["target"]) == (svc, target), path


def test_absolute_form_routes_by_its_authority_and_sends_it_as_host(echo_backend, switchboard):
    # RFC 9112 3.2.2: the target's authority replaces the Host field; the upstream sees the host
    # the route was chosen by, never the other one.
    one, two = echo_backend("one"), echo_backend("two")
    cfg = make_config(
        [service("one", [one.addr]), service("two", [two.addr])],
        routes=[{"host": "a.example", "service": "one"}, {"path_prefix": "/", "service": "two"}])
    sb = switchboard(config=cfg)
    with RawConn(sb.port) as c:
        c.send(b"GET http://a.example/x?y=1 HTTP/1.1\r\nHost: b.example\r\n\r\n")
        r = c.read_response()
        assert r.header("X-Backend") == "one"
        seen = r.json()
        assert seen["target"] == "/x?y=1"
        assert [v for k, v in seen["headers"] if k.lower() == "host"] == ["a.example"]
        c.send(b"GET HTTP://A.Example.:8080/../z HTTP/1.1\r\nHost: a.example\r\n\r\n")
        r = c.read_response()
        assert r.header("X-Backend") == "one"
        seen = r.json()
        assert seen["target"] == "/z"
        assert [v for k, v in seen["headers"] if k.lower() == "host"] == ["A.Example.:8080"]
        c.send(b"GET http://b.example/ HTTP/1.1\r\nHost: a.example\r\n\r\n")
        assert c.read_response().header("X-Backend") == "two"
    # A fully qualified name routes as the name: nginx ignores the final dot too.
    assert request(sb.port, host="a.example.").header("X-Backend") == "one"


def test_no_matching_route_is_404(echo_backend, switchboard):
    be = echo_backend()
    cfg = make_config([service("app", [be.addr])], routes=[{"path_prefix": "/app/", "service": "app"}])
    sb = switchboard(config=cfg)
    r = request(sb.port, path="/elsewhere")
    assert r.status == 404
    assert 0 < len(r.body) <= 1024
    with RawConn(sb.port) as c:  # answered once; the connection (if kept) serves the next request
        assert c.request(path="/elsewhere").status == 404
        assert be.head_count() == 0  # a 404 never reaches the backend
        if not c.closed_within(0.3):
            assert not c.buf, bytes(c.buf)[:200]
            assert c.request(path="/app/y").status == 200
            assert be.head_count() == 1
    assert request(sb.port, path="/app/x").status == 200


def test_two_threads_both_serve_and_spread_connections(nginx_backends, switchboard):
    nb = nginx_backends(2)
    sb = switchboard(["--backends", ",".join(nb.addrs), "--threads", "2", "--access-log", "off"])
    seen = Counter(backend_of(request(sb.port)) for _ in range(40))
    assert set(seen) == {"backend-0", "backend-1"}
    # Each worker balances on its own, so the split is even per worker, not necessarily overall.
    assert sum(seen.values()) == 40
    status = json.loads(request(sb.port, path="/lb-status?format=json").body)
    assert status["connections"]["accepted"] >= 41
    workers = status.get("workers")
    if workers is None:
        return  # the status JSON does not break connections down by worker
    assert len(workers) == 2
    accepted = [w["accepted"] for w in workers]
    assert sum(accepted) >= 41
    # 41 connections over two SO_REUSEPORT sockets (or a fair hand-off): both get a share.
    assert min(accepted) >= 5, accepted


def test_quick_flags_route_every_path(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = switchboard(["--backends", nb.addrs[0], "--threads", "1"])
    for path in ("/", "/a/b/c?d=e", "/lb-healthz"):
        r = request(sb.port, path=path, host="anything.example")
        assert r.status == 200 and r.body == b"backend-0\n", path
    wait_until(lambda: len(sb.access_log()) >= 3, 5, message="access log lines")
