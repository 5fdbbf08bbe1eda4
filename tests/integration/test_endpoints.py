"""Built-in endpoints on the proxy listener: /lb-health, and /lb-status as nginx stub_status text
or JSON with the per-instance view the dashboard and /metrics share (state, counts, error rate,
latency quantiles). Paths come from endpoints.* in the config."""

import json
import re
import urllib.request

from harness import AdminApi, make_config, proxy_for, service, wait_until
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


def admin_get(sb, path):
    with urllib.request.urlopen(f"{sb.admin_url}{path}", timeout=10) as resp:
        return resp.read().decode()


def metric(text, name, **labels):
    for line in text.splitlines():
        m = re.fullmatch(r"(\w+)\{(.*)\} (\S+)", line)
        if m and m.group(1) == name and dict(re.findall(r'(\w+)="([^"]*)"', m.group(2))) == labels:
            return float(m.group(3))
    raise AssertionError(f"no sample {name} {labels}")


def test_status_json_is_the_dashboards_view_and_metrics_agree(nginx_backends, switchboard):
    nb = nginx_backends(3)
    sb = switchboard(config=make_config([service("web", nb.addrs[:1])]))
    api = AdminApi(sb.admin_port)
    for i, addr in enumerate(nb.addrs[1:]):
        host, port = addr.split(":")
        assert api.register("web", f"w{i}", host, int(port))[0] in (200, 201)
    with RawConn(sb.port) as c:
        for _ in range(6):
            assert c.request(path="/").status == 200
        for _ in range(3):
            assert c.request(path="/500").status == 500
    assert api.call("POST", "/v1/services/web/instances/w1/drain")[0] == 200
    api.close()

    st = status_json(sb.port)
    (svc,) = st["services"]
    assert svc["balance"] == "round_robin" and svc["panic"] is False
    by_addr = {i["address"]: i for i in svc["instances"]}
    assert set(by_addr) == set(nb.addrs)  # the drained one is listed, not routed
    static, w0, w1 = (by_addr[a] for a in nb.addrs)
    assert static["id"] is None and w0["id"] == "w0" and w1["id"] == "w1"
    assert [i["state"] for i in (static, w0, w1)] == ["passing", "passing", "draining"]
    assert [i["routed"] for i in (static, w0, w1)] == [True, True, False]
    for inst in (static, w0, w1):  # 9 requests in turn over three: 2 x 200 and 1 x 500 each
        assert inst["weight"] == 1
        assert inst["requests"] == 3, inst
        assert inst["responses"] == {"1xx": 0, "2xx": 2, "3xx": 0, "4xx": 0, "5xx": 1}, inst
        assert inst["errors"] == 1 and abs(inst["error_rate"] - 1 / 3) < 1e-9, inst
        assert 0 < inst["p50_ms"] <= inst["p99_ms"] < 1000, inst
        # Round robin counts nothing in flight for its picks; the status view does all the same.
        assert inst["active"] == 0, inst

    # The dashboard's JSON shows the very same services and instances (nothing moved between).
    dashboard = json.loads(admin_get(sb, "/v1/dashboard"))
    assert dashboard["services"] == st["services"]

    # And /metrics says the same of each instance.
    text = admin_get(sb, "/metrics")
    for inst in (static, w0, w1):
        labels = {"service": "web", "instance": inst["address"]}
        assert metric(text, "switchboard_upstream_requests_total", **labels) == inst["requests"]
        assert metric(text, "switchboard_upstream_retries_total", **labels) == inst["retries"] == 0
        assert metric(text, "switchboard_upstream_responses_total", code="5xx", **labels) == 1
        for state in ("passing", "critical", "draining", "ejected", "down"):
            assert metric(text, "switchboard_upstream_state", state=state, **labels) == \
                (1 if state == inst["state"] else 0), (inst["address"], state)


def test_status_json_active_count_where_the_algorithm_counts(nginx_backends, switchboard):
    nb = nginx_backends(2)
    sb = switchboard(config=make_config([service("web", nb.addrs, balance="least_conn")]))
    assert request(sb.port).status == 200
    (svc,) = status_json(sb.port)["services"]
    assert [i["active"] for i in svc["instances"]] == [0, 0]
    # No request yet on the second instance: no latency to quote, no error rate.
    idle = next(i for i in svc["instances"] if i["requests"] == 0)
    assert idle["p50_ms"] is None and idle["p99_ms"] is None and idle["error_rate"] is None
