"""Built-in endpoints on the proxy listener: /lb-health, and /lb-status as nginx stub_status text
or JSON with per-instance request and response counts. Paths come from endpoints.* in the config."""

import json
import re

from harness import make_config, proxy_for, service, wait_until
from rawhttp import RawConn, request

STUB_RE = re.compile(
    r"^Active connections: (\d+) \n"
    r"server accepts handled requests\n"
    r" (\d+) (\d+) (\d+) \n"
    r"Reading: (\d+) Writing: (\d+) Waiting: (\d+) \n$")


def stub_status(port, path="/lb-status"):
    r = request(port, path=path)
    assert r.status == 200, r
    m = STUB_RE.match(r.text)
    assert m, f"not stub_status text: {r.text!r}"
    active, accepts, handled, requests, reading, writing, waiting = map(int, m.groups())
    return dict(active=active, accepts=accepts, handled=handled, requests=requests, reading=reading,
                writing=writing, waiting=waiting)


def status_json(port, path="/lb-status?format=json", headers=None):
    r = request(port, path=path, headers=headers)
    assert r.status == 200, r
    assert "json" in r.header("Content-Type", "").lower()
    return json.loads(r.body)


def test_health_endpoint(echo_backend, switchboard):
    be = echo_backend()
    sb = proxy_for(switchboard, [be.addr])
    r = request(sb.port, path="/lb-health")
    assert r.status == 200
    r = request(sb.port, "HEAD", "/lb-health")
    assert r.status == 200 and r.body == b""
    assert be.head_count() == 0


def test_stub_status_text_and_its_numbers_move(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    r = request(sb.port, path="/lb-status")
    assert r.header("Content-Type", "").lower().startswith("text/plain")
    first = stub_status(sb.port)
    assert first["active"] >= 1 and first["writing"] >= 1  # this very request
    assert first["accepts"] == first["handled"] >= 2
    assert first["requests"] >= 2
    with RawConn(sb.port) as c:
        for _ in range(5):
            assert c.request().status == 200
    second = stub_status(sb.port)
    assert second["accepts"] >= first["accepts"] + 2
    assert second["handled"] >= first["handled"] + 2
    assert second["requests"] >= first["requests"] + 6


def test_stub_status_counts_open_and_idle_connections(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    idle = [RawConn(sb.port) for _ in range(5)]
    try:
        for c in idle:
            assert c.request().status == 200
        s = stub_status(sb.port)
        assert s["active"] >= 6
        assert s["waiting"] >= 5
        assert s["active"] == s["reading"] + s["writing"] + s["waiting"]
    finally:
        for c in idle:
            c.close()
    s = wait_until(lambda: (lambda s: s if s["active"] == 1 else None)(stub_status(sb.port)), 5,
                   message="active connections back to 1")
    assert s["waiting"] == 0 and s["writing"] == 1


def test_status_json_counts_per_instance(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(config=make_config([service("web", nb.addrs)]))
    with RawConn(sb.port) as c:
        for _ in range(9):
            assert c.request(path="/").status == 200
        for _ in range(3):
            assert c.request(path="/404").status == 404
        for _ in range(3):
            assert c.request(path="/500").status == 500
    st = status_json(sb.port)
    conns = st["connections"]
    for key in ("active", "accepted", "handled", "reading", "writing", "waiting"):
        assert isinstance(conns[key], int), key
    assert conns["accepted"] >= 2 and conns["active"] >= 1
    assert st["requests"] >= 16
    (svc,) = st["services"]
    assert svc["name"] == "web"
    by_addr = {i["address"]: i for i in svc["instances"]}
    assert set(by_addr) == set(nb.addrs)
    for addr in nb.addrs:
        inst = by_addr[addr]
        assert inst["requests"] == 5, inst
        assert inst["responses"] == {"1xx": 0, "2xx": 3, "3xx": 0, "4xx": 1, "5xx": 1}, inst


def test_status_json_by_accept_header(echo_backend, switchboard):
    be = echo_backend()
    sb = proxy_for(switchboard, [be.addr], name="api")
    for _ in range(4):
        assert request(sb.port, path="/x").status == 200
    st = status_json(sb.port, path="/lb-status", headers={"Accept": "application/json"})
    (svc,) = st["services"]
    assert svc["name"] == "api"
    (inst,) = svc["instances"]
    assert inst["address"] == be.addr
    assert inst["requests"] == 4
    assert inst["responses"] == {"1xx": 0, "2xx": 4, "3xx": 0, "4xx": 0, "5xx": 0}
    # The endpoints themselves are not proxied.
    assert be.head_count() == 4


def test_status_json_counts_proxy_made_errors(refusing_port, switchboard):
    dead = refusing_port()
    sb = proxy_for(switchboard, [dead.addr])
    assert request(sb.port).status == 502
    st = status_json(sb.port)
    inst = st["services"][0]["instances"][0]
    assert inst["address"] == dead.addr
    assert inst["requests"] >= 1


def test_endpoint_paths_are_configurable(nginx_backends, switchboard):
    nb = nginx_backends(1)
    sb = switchboard(config=make_config([service("web", nb.addrs)],
                                        endpoints={"health_path": "/_sb/health", "status_path": "/_sb/status"}))
    assert request(sb.port, path="/_sb/health").status == 200
    stub_status(sb.port, path="/_sb/status")
    assert "services" in status_json(sb.port, path="/_sb/status?format=json")
    # The default paths are now ordinary paths, proxied to the backend.
    for path in ("/lb-health", "/lb-status"):
        r = request(sb.port, path=path)
        assert r.status == 200 and r.body == b"backend-0\n", path
