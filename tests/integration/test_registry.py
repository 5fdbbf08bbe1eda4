"""The registry through the admin listener, and the proxy following it live: a registration is
routed as soon as it is acknowledged, expiry and drain take instances out of rotation, a
deregistration removes its routes, bad input is refused with the field named, blocking queries
wake on change, and every acknowledged registration survives kill -9."""

import signal
import socket
import threading
import time

import pytest

from harness import AdminApi, Switchboard, make_config, run_switchboard, service, wait_until
from rawhttp import request


def backend_of(resp):
    return resp.body.decode().strip()


def registry_proxy(switchboard, config=None, **kwargs):
    """A switchboard with one worker (so round robin is exact) and its registry API."""
    sb = switchboard(config=config if config is not None else make_config([]), **kwargs)
    return sb, AdminApi(sb.admin_port)


def test_registration_is_routed_as_soon_as_acknowledged(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    sb, api = registry_proxy(switchboard)
    assert request(sb.port, path="/api/x").status == 404  # nothing registered yet
    host, port = nginx.addrs[0].split(":")
    status, headers, body = api.register("web", "web-1", host, int(port),
                                         routes=[{"path_prefix": "/api"}])
    assert status == 201, body
    assert int(headers["x-switchboard-index"]) > 0
    # No polling: the 2xx is sent only after the proxy's snapshot holds the instance.
    resp = request(sb.port, path="/api/x")
    assert resp.status == 200 and backend_of(resp) == "backend-0"

    host2, port2 = nginx.addrs[1].split(":")
    assert api.register("web", "web-2", host2, int(port2), routes=[{"path_prefix": "/api"}])[0] == 201
    seen = [backend_of(request(sb.port, path="/api/x")) for _ in range(10)]
    assert sorted(set(seen)) == ["backend-0", "backend-1"] and seen.count("backend-0") == 5


def test_registered_instances_join_a_static_service(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    config = make_config([service("web", [nginx.addrs[0]])])
    sb, api = registry_proxy(switchboard, config=config)
    host, port = nginx.addrs[1].split(":")
    assert api.register("web", "dyn", host, int(port))[0] == 201
    seen = {backend_of(request(sb.port, path="/")) for _ in range(6)}
    assert seen == {"backend-0", "backend-1"}
    assert api.call("DELETE", "/v1/services/web/instances/dyn")[0] == 200
    assert {backend_of(request(sb.port, path="/")) for _ in range(4)} == {"backend-0"}


def test_static_config_route_wins_over_a_declared_one(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    config = make_config([service("static", [nginx.addrs[0]])],
                         routes=[{"path_prefix": "/shared", "service": "static"}])
    sb, api = registry_proxy(switchboard, config=config)
    host, port = nginx.addrs[1].split(":")
    api.register("dynamic", "d1", host, int(port),
                 routes=[{"path_prefix": "/shared"}, {"path_prefix": "/own"}])
    assert backend_of(request(sb.port, path="/shared/x")) == "backend-0"
    assert backend_of(request(sb.port, path="/own/x")) == "backend-1"


def test_host_route_declared_by_a_service(switchboard, nginx_backends):
    nginx = nginx_backends(1)
    sb, api = registry_proxy(switchboard)
    host, port = nginx.addrs[0].split(":")
    api.register("shop", "s1", host, int(port), routes=[{"host": "shop.example", "path_prefix": "/"}])
    assert request(sb.port, path="/", host="shop.example").status == 200
    assert request(sb.port, path="/", host="Shop.Example.:8090").status == 200  # case, dot, port
    assert request(sb.port, path="/", host="other.example").status == 404


def test_deregistration_removes_instance_and_routes(switchboard, nginx_backends):
    nginx = nginx_backends(1)
    sb, api = registry_proxy(switchboard)
    host, port = nginx.addrs[0].split(":")
    api.register("web", "w1", host, int(port), routes=[{"path_prefix": "/web"}])
    assert request(sb.port, path="/web").status == 200
    status, _, _ = api.call("DELETE", "/v1/services/web/instances/w1")
    assert status == 200
    assert request(sb.port, path="/web").status == 404
    assert api.call("DELETE", "/v1/services/web/instances/w1")[0] == 404
    assert api.call("GET", "/v1/services/web")[0] == 404


def test_drain_takes_no_new_requests_and_503_names_the_service(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    sb, api = registry_proxy(switchboard)
    for i, addr in enumerate(nginx.addrs):
        host, port = addr.split(":")
        api.register("web", f"w{i}", host, int(port), routes=[{"path_prefix": "/"}])
    status, _, body = api.call("POST", "/v1/services/web/instances/w0/drain")
    assert status == 200 and body["state"] == "draining"
    assert {backend_of(request(sb.port)) for _ in range(6)} == {"backend-1"}
    api.call("POST", "/v1/services/web/instances/w1/drain")
    resp = request(sb.port)
    assert resp.status == 503 and b"web" in resp.body, resp.body
    assert api.call("POST", "/v1/services/web/instances/w0/undrain")[0] == 200
    assert {backend_of(request(sb.port)) for _ in range(4)} == {"backend-0"}


def test_drain_lets_a_request_in_flight_finish(switchboard, echo_backend):
    echo = echo_backend("slow")
    sb, api = registry_proxy(switchboard)
    api.register("slow", "s1", "127.0.0.1", echo.port, routes=[{"path_prefix": "/"}])
    result = {}
    worker = threading.Thread(
        target=lambda: result.setdefault("resp", request(sb.port, path="/?delay_ms=1500", timeout=10)))
    worker.start()
    wait_until(lambda: echo.heads >= 1, message="the slow request reaching the backend")
    assert api.call("POST", "/v1/services/slow/instances/s1/drain")[0] == 200
    assert request(sb.port, path="/").status == 503  # no new requests
    worker.join(10)
    assert result["resp"].status == 200


def test_ttl_expiry_stops_traffic_then_deregisters(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    config = make_config([], registry={"deregister_after": "1s"})
    sb, api = registry_proxy(switchboard, config=config)
    for i, addr in enumerate(nginx.addrs):
        host, port = addr.split(":")
        ttl = "1s" if i == 0 else None
        fields = {"routes": [{"path_prefix": "/"}]}
        if ttl:
            fields["ttl"] = ttl
        assert api.register("web", f"w{i}", host, int(port), **fields)[0] == 201
    assert {backend_of(request(sb.port)) for _ in range(4)} == {"backend-0", "backend-1"}
    # No heartbeat: w0 turns critical after its 1 s TTL and gets no traffic...
    wait_until(lambda: api.instances("web").get("w0", {}).get("state") == "critical", timeout=5,
               message="w0 critical")
    assert {backend_of(request(sb.port)) for _ in range(4)} == {"backend-1"}
    # ...and is deregistered after deregister_after (1 s) critical.
    wait_until(lambda: "w0" not in api.instances("web"), timeout=5, message="w0 deregistered")
    assert set(api.instances("web")) == {"w1"}


def test_heartbeats_keep_an_instance_passing(switchboard, nginx_backends):
    nginx = nginx_backends(1)
    sb, api = registry_proxy(switchboard)
    host, port = nginx.addrs[0].split(":")
    api.register("web", "w0", host, int(port), ttl="1s", routes=[{"path_prefix": "/"}])
    deadline = time.monotonic() + 2.5  # more than two TTLs
    while time.monotonic() < deadline:
        assert api.call("PUT", "/v1/services/web/instances/w0/heartbeat")[0] == 200
        assert api.instances("web")["w0"]["state"] == "passing"
        assert request(sb.port).status == 200
    assert api.call("PUT", "/v1/services/web/instances/nope/heartbeat")[0] == 404


def test_critical_instance_recovers_on_heartbeat(switchboard, nginx_backends):
    nginx = nginx_backends(1)
    sb, api = registry_proxy(switchboard)
    host, port = nginx.addrs[0].split(":")
    api.register("web", "w0", host, int(port), ttl="1s", routes=[{"path_prefix": "/"}])
    wait_until(lambda: api.instances("web")["w0"]["state"] == "critical", timeout=5)
    assert request(sb.port).status == 503
    assert api.call("PUT", "/v1/services/web/instances/w0/heartbeat")[0] == 200
    assert request(sb.port).status == 200


BAD_REGISTRATIONS = [
    ("/v1/services/Bad_Name/instances/a", {"address": "127.0.0.1", "port": 80}, "service"),
    ("/v1/services/web/instances/has%20space", {"address": "127.0.0.1", "port": 80}, "id"),
    ("/v1/services/web/instances/a", {"address": "127.0.0.1", "port": 0}, "port"),
    ("/v1/services/web/instances/a", {"address": "127.0.0.1", "port": 70000}, "port"),
    ("/v1/services/web/instances/a", {"address": "127.0.0.1", "port": 80, "weight": 0}, "weight"),
    ("/v1/services/web/instances/a", {"address": "127.0.0.1", "port": 80, "weight": 1001}, "weight"),
    ("/v1/services/web/instances/a", {"address": "127.0.0.1", "port": 80, "ttl": "500ms"}, "ttl"),
    ("/v1/services/web/instances/a", {"address": "127.0.0.1", "port": 80, "ttl": "2h"}, "ttl"),
    ("/v1/services/web/instances/a", {"address": "127.0.0.1", "port": 80, "colour": "red"}, "colour"),
    ("/v1/services/web/instances/a", {"port": 80}, "address"),
    ("/v1/services/web/instances/a",
     {"address": "127.0.0.1", "port": 80, "routes": [{"path_prefix": "/", "host": "shop.example:80"}]},
     "routes[0].host"),
    ("/v1/services/web/instances/a",
     {"address": "127.0.0.1", "port": 80, "routes": [{"path_prefix": "/", "host": "shop example"}]},
     "routes[0].host"),
    ("/v1/services/web/instances/a", "{not json", "body"),
    ("/v1/services/web/instances/a", {"address": "127.0.0.1", "port": 80, "meta": {"k": "x" * 70000}},
     "body"),
]


@pytest.fixture(scope="module")
def shared_registry(module_factories):
    return module_factories[0](config=make_config([]))


@pytest.mark.parametrize("path,body,field", BAD_REGISTRATIONS,
                         ids=[f"{f}-{i}" for i, (_, _, f) in enumerate(BAD_REGISTRATIONS)])
def test_bad_registration_names_the_field(shared_registry, path, body, field):
    api = AdminApi(shared_registry.admin_port)
    status, _, answer = api.call("PUT", path, body)
    assert status == 400, answer
    assert answer["field"] == field and answer["error"], answer
    assert api.call("GET", "/v1/services")[2]["services"] == []  # nothing was registered


def test_api_errors_for_paths_methods_and_sizes(switchboard):
    sb, api = registry_proxy(switchboard)
    assert api.call("GET", "/v1/services/web/instances/nope")[0] == 405
    status, headers, _ = api.call("PATCH", "/v1/services/web/instances/a")
    assert status == 405 and "PUT" in headers["allow"]
    assert api.call("GET", "/v1/nowhere")[0] == 404
    assert api.call("POST", "/v1/services/web/instances/nope/drain")[0] == 404
    # Refused from the head alone (the body is never read), like nginx's client_max_body_size.
    with socket.create_connection(("127.0.0.1", sb.admin_port), timeout=5) as raw:
        raw.sendall(b"PUT /v1/services/web/instances/a HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 2097152\r\n\r\n")
        head = raw.recv(4096)
    assert head.startswith(b"HTTP/1.1 413 "), head


def test_blocking_query_wakes_on_change(switchboard, nginx_backends):
    nginx = nginx_backends(1)
    sb, api = registry_proxy(switchboard)
    host, port = nginx.addrs[0].split(":")
    api.register("web", "w0", host, int(port))
    status, headers, body = api.call("GET", "/v1/services/web")
    index = int(headers["x-switchboard-index"])
    assert body["index"] == index
    result = {}

    def blocking():
        started = time.monotonic()
        result["answer"] = AdminApi(sb.admin_port).call(
            "GET", f"/v1/services/web?index={index}&wait=30s", timeout=40)
        result["elapsed"] = time.monotonic() - started

    waiter = threading.Thread(target=blocking)
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive(), f"the blocking query answered at once: {result}"
    changed_at = time.monotonic()
    api.call("POST", "/v1/services/web/instances/w0/drain")
    waiter.join(5)
    assert not waiter.is_alive(), "the blocking query did not wake on the change"
    status, headers, body = result["answer"]
    assert status == 200 and int(headers["x-switchboard-index"]) > index
    assert body["instances"][0]["state"] == "draining"
    assert time.monotonic() - changed_at < 2


def test_blocking_query_answers_at_its_wait(switchboard):
    sb, api = registry_proxy(switchboard)
    api.register("web", "w0", "127.0.0.1", 9)
    _, headers, _ = api.call("GET", "/v1/services/web")
    index = int(headers["x-switchboard-index"])
    started = time.monotonic()
    status, headers, _ = api.call("GET", f"/v1/services/web?index={index}&wait=1s", timeout=10)
    elapsed = time.monotonic() - started
    assert status == 200 and int(headers["x-switchboard-index"]) == index
    assert 1.0 <= elapsed < 1.0 + 1.0 / 16 + 1.0, elapsed


def test_second_switchboard_on_the_same_data_dir_is_refused(switchboard, tmp_path):
    data = tmp_path / "shared-data"
    switchboard(data_dir=data)
    result = run_switchboard(["serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                              "--data-dir", str(data)])
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "in use" in lines[0] and "data_dir" in lines[0], result.stderr


def test_registrations_survive_restart_with_fresh_ttl(switchboard, nginx_backends, tmp_path):
    nginx = nginx_backends(1)
    data = tmp_path / "data"
    sb, api = registry_proxy(switchboard, data_dir=data)
    host, port = nginx.addrs[0].split(":")
    api.register("web", "w0", host, int(port), ttl="5s", tags=["a"], routes=[{"path_prefix": "/"}])
    api.register("web", "w1", host, int(port))
    api.call("POST", "/v1/services/web/instances/w1/drain")
    api.register("gone", "g0", host, int(port))
    api.call("DELETE", "/v1/services/gone/instances/g0")
    sb.stop()
    sb2, api2 = registry_proxy(switchboard, data_dir=data)
    instances = api2.instances("web")
    assert set(instances) == {"w0", "w1"}
    assert instances["w0"]["state"] == "passing" and instances["w0"]["tags"] == ["a"]
    assert instances["w0"]["last_heartbeat_ms_ago"] < 2000  # the TTL clock restarted
    assert instances["w1"]["state"] == "draining"
    assert api2.call("GET", "/v1/services/gone")[0] == 404
    assert request(sb2.port).status == 200


def test_every_acknowledged_registration_survives_kill_9(switchboard, tmp_path):
    """A flood of registrations from several clients; kill -9 in the middle of it; after a restart
    every registration that got a 2xx is there."""
    data = tmp_path / "data"
    sb, api = registry_proxy(switchboard, data_dir=data)
    acknowledged = set()
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        conn = AdminApi(sb.admin_port, timeout=5)
        i = 0
        while not stop.is_set():
            instance = f"c{n}-{i}"
            try:
                status, _, _ = conn.register(f"svc{n % 3}", instance, "127.0.0.1", 1000 + i % 60000)
            except OSError:
                return  # the server is gone: this registration was never acknowledged
            if status in (200, 201):
                with lock:
                    acknowledged.add((f"svc{n % 3}", instance))
            i += 1

    clients = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for c in clients:
        c.start()
    wait_until(lambda: len(acknowledged) >= 300, timeout=30, message="300 acknowledged registrations")
    sb.proc.send_signal(signal.SIGKILL)
    sb.proc.wait(10)
    sb.returncode = sb.proc.returncode
    stop.set()
    for c in clients:
        c.join(10)
    sb2, api2 = registry_proxy(switchboard, data_dir=data)
    present = set()
    for name in ("svc0", "svc1", "svc2"):
        present |= {(name, i) for i in api2.instances(name)}
    missing = acknowledged - present
    assert not missing, f"{len(missing)} acknowledged registrations lost, e.g. {sorted(missing)[:5]}"
    assert len(acknowledged) >= 300


def test_drain_under_load_fails_no_request(switchboard, nginx_backends):
    import json
    import subprocess
    nginx = nginx_backends(3)
    sb, api = registry_proxy(switchboard)
    for i, addr in enumerate(nginx.addrs):
        host, port = addr.split(":")
        api.register("web", f"w{i}", host, int(port), routes=[{"path_prefix": "/"}])

    def instance(addr):
        status = json.loads(request(sb.port, path="/lb-status?format=json").body)
        svc = next(s for s in status["services"] if s["name"] == "web")
        return next(i for i in svc["instances"] if i["address"] == addr)

    def served_by(addr):
        return instance(addr)["requests"]

    wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d3s", f"http://127.0.0.1:{sb.port}/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: (served_by(nginx.addrs[0]) or 0) > 500, 10, message="load running")
        status, _, body = api.call("POST", "/v1/services/web/instances/w0/drain")
        assert status == 200 and body["state"] == "draining"
        # Acknowledged means routed: the drained instance is out of the snapshot's routing at
        # once, and listed as draining.
        drained = instance(nginx.addrs[0])
        assert drained["state"] == "draining" and drained["routed"] is False, drained
        out, _ = wrk.communicate(timeout=30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    assert served_by(nginx.addrs[1]) > 1000 and served_by(nginx.addrs[2]) > 1000
    # Once drained it got nothing new: at most the 16 connections' requests already in flight.
    assert served_by(nginx.addrs[0]) <= drained["requests"] + 16
