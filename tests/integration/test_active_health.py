"""Active health checks against real nginx backends: `fall` failed checks in a row take an
instance out of rotation and `rise` passes bring it back; a stopped backend is found with no
client traffic at all; a registered instance that heartbeats but fails its checks gets nothing;
bad check settings are refused with the key named."""

import json

from harness import AdminApi, make_config, refused_service_setting, service, wait_until
from rawhttp import request

CHECK = {"path": "/files/health", "interval": "150ms", "timeout": "100ms", "rise": 2, "fall": 2}


def checked_backends(nginx_backends, n):
    """n nginx processes (each its own files dir), all answering GET /files/health with 200."""
    backends = [nginx_backends(1) for _ in range(n)]
    for b in backends:
        (b.files / "health").write_text("ok\n")
    return backends


def instances(sb, name="web"):
    status = json.loads(request(sb.port, path="/lb-status?format=json").body)
    svc = next(s for s in status["services"] if s["name"] == name)
    return {i["address"]: i for i in svc["instances"]}


def check_state(sb, addr):
    return instances(sb).get(addr, {}).get("check")


def test_failing_checks_take_an_instance_out_and_passing_ones_bring_it_back(switchboard,
                                                                           nginx_backends):
    backends = checked_backends(nginx_backends, 3)
    addrs = [b.addrs[0] for b in backends]
    svc = service("web", addrs)
    svc["health"] = {"check": CHECK}
    sb = switchboard(config=make_config([svc]))
    assert all(check_state(sb, a) == "up" for a in addrs)

    (backends[0].files / "health").unlink()  # nginx now answers 404
    wait_until(lambda: check_state(sb, addrs[0]) == "down", 5, message="check marks it down")
    before = instances(sb)[addrs[0]]["requests"]
    for _ in range(12):
        assert request(sb.port).status == 200
    after = instances(sb)
    assert after[addrs[0]]["requests"] == before
    assert after[addrs[1]]["requests"] + after[addrs[2]]["requests"] >= 12
    assert f"instance {addrs[0]} of service web failed 2 active check(s) in a row (answered 404): down" \
        in sb.stderr()

    (backends[0].files / "health").write_text("ok\n")
    wait_until(lambda: check_state(sb, addrs[0]) == "up", 5, message="rise brings it back")
    assert f"instance {addrs[0]} of service web passed 2 active check(s) in a row: up" in sb.stderr()
    for _ in range(6):
        assert request(sb.port).status == 200
    assert instances(sb)[addrs[0]]["requests"] == before + 2  # its round-robin share again


def test_stopped_backend_is_found_without_client_traffic(switchboard, nginx_backends):
    backends = checked_backends(nginx_backends, 2)
    addrs = [b.addrs[0] for b in backends]
    svc = service("web", addrs)
    svc["health"] = {"check": CHECK}
    sb = switchboard(config=make_config([svc]))
    backends[1].stop()
    wait_until(lambda: check_state(sb, addrs[1]) == "down", 5, message="stopped backend down")
    assert all(i["requests"] == 0 for i in instances(sb).values())
    assert "Connection refused" in sb.stderr() or "connection refused" in sb.stderr()
    # Its first client request goes straight to the live one: no failed attempt, no retry.
    assert request(sb.port).status == 200
    assert instances(sb)[addrs[1]]["failures"] == 0


def test_registered_instance_that_fails_checks_gets_nothing(switchboard, nginx_backends):
    backends = checked_backends(nginx_backends, 2)
    addrs = [b.addrs[0] for b in backends]
    svc = service("web", [])
    svc["health"] = {"check": CHECK}
    sb = switchboard(config=make_config([svc], routes=[{"path_prefix": "/", "service": "web"}]))
    api = AdminApi(sb.admin_port)
    for i, addr in enumerate(addrs):
        host, port = addr.split(":")
        status, _, _ = api.register("web", f"w{i}", host, int(port), ttl="30s")
        assert status in (200, 201)
    wait_until(lambda: check_state(sb, addrs[0]) == "up" and check_state(sb, addrs[1]) == "up", 5)
    (backends[0].files / "health").unlink()
    wait_until(lambda: check_state(sb, addrs[0]) == "down", 5, message="registered instance down")
    # The registry still says passing (TTL), the checks say down: no traffic.
    status, _, body = api.call("PUT", "/v1/services/web/instances/w0/heartbeat")
    assert status == 200
    assert api.instances("web")["w0"]["state"] == "passing"
    for _ in range(6):
        assert request(sb.port).status == 200
    assert instances(sb)[addrs[0]]["requests"] == 0
    api.close()


def test_bad_check_settings_are_refused(tmp_path):
    cases = [
        ("{rise: 0}", "services[0].health.check.rise"),
        ("{interval: 10ms}", "services[0].health.check.interval: 10ms is out of range 100ms-1h"),
        ("{interval: 1s, timeout: 2s}", "services[0].health.check.timeout"),
        ("{path: health}", "services[0].health.check.path: must start with '/'"),
        ("{expect: [200, 700]}", "services[0].health.check.expect[1]"),
        ("{expect: 300-200}", "services[0].health.check.expect: range '300-200' ends before"),
        ("{method: HEAD}", "services[0].health.check.method: unknown key"),
    ]
    for check, expected in cases:
        assert expected in refused_service_setting(tmp_path, f"health:\n  check: {check}")
