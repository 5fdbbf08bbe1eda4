"""Passive health (nginx's max_fails / fail_timeout) and panic mode, against real backends: an
instance that fails is marked down and skipped until fail_timeout passes; a status listed in
fail_on counts as a failure; below the panic threshold every instance is used again; a service
with one instance is never marked down."""

import json

from harness import make_config, service, wait_until
from rawhttp import request


def instance_stats(sb, addr):
    status = json.loads(request(sb.port, path="/lb-status?format=json").body)
    for svc in status["services"]:
        for inst in svc["instances"]:
            if inst["address"] == addr:
                return inst
    raise AssertionError(f"{addr} not in /lb-status: {status}")


def service_status(sb, name="web"):
    status = json.loads(request(sb.port, path="/lb-status?format=json").body)
    return next(s for s in status["services"] if s["name"] == name)


def health_config(addrs, **health):
    svc = service("web", addrs)
    if health:
        svc["health"] = health
    return make_config([svc])


def test_refusing_instance_is_marked_down_and_skipped(switchboard, nginx_backends, refusing_port):
    nginx = nginx_backends(2)
    dead = refusing_port().addr
    sb = switchboard(config=health_config([dead, *nginx.addrs], max_fails=1, fail_timeout="30s"))
    for _ in range(12):
        assert request(sb.port).status == 200  # the refused attempt moves to the next instance
    # Tried once, then down for 30 s: round robin would have tried it four times.
    assert instance_stats(sb, dead)["failures"] == 1


def test_without_passive_health_every_turn_tries_the_dead_instance(switchboard, nginx_backends,
                                                                   refusing_port):
    nginx = nginx_backends(2)
    dead = refusing_port().addr
    sb = switchboard(config=health_config([dead, *nginx.addrs], max_fails=0))
    for _ in range(12):
        assert request(sb.port).status == 200
    assert instance_stats(sb, dead)["failures"] == 4


def test_status_in_fail_on_marks_down_then_recovers_after_fail_timeout(switchboard, nginx_backends,
                                                                       echo_backend):
    nginx = nginx_backends(1)
    broken = echo_backend("broken", defaults={"status": "500"})
    sb = switchboard(config=health_config([f"127.0.0.1:{broken.port}", nginx.addrs[0]],
                                          max_fails=1, fail_timeout="1s", fail_on=["error", "500"]))
    statuses = [request(sb.port).status for _ in range(10)]
    assert statuses.count(500) == 1 and statuses.count(200) == 9, statuses
    assert len(broken.requests) == 1
    # After fail_timeout the instance is tried again.
    wait_until(lambda: request(sb.port).status == 500 or None, timeout=5,
               message="the instance tried again after fail_timeout")
    assert len(broken.requests) == 2


def test_500_is_not_a_failure_unless_listed(switchboard, nginx_backends, echo_backend):
    nginx = nginx_backends(1)
    broken = echo_backend("broken", defaults={"status": "500"})
    sb = switchboard(config=health_config([f"127.0.0.1:{broken.port}", nginx.addrs[0]],
                                          max_fails=1, fail_timeout="30s"))
    statuses = [request(sb.port).status for _ in range(10)]
    assert statuses.count(500) == 5, statuses


def test_panic_mode_uses_every_instance_when_most_are_down(switchboard, nginx_backends, echo_backend):
    nginx = nginx_backends(1)
    broken = [echo_backend(f"broken{i}", defaults={"status": "503"}) for i in range(2)]
    addrs = [f"127.0.0.1:{b.port}" for b in broken] + [nginx.addrs[0]]
    sb = switchboard(config=health_config(addrs, max_fails=1, fail_timeout="30s",
                                          fail_on=["503"], panic_threshold=50))
    statuses = [request(sb.port).status for _ in range(12)]
    # Both broken instances are down, 1 of 3 healthy is below 50 %: all three keep getting traffic.
    assert statuses.count(503) == 8 and statuses.count(200) == 4, statuses
    assert all(len(b.requests) == 4 for b in broken)
    assert service_status(sb)["panic"] is True
    assert "service web in panic mode: 1 of 3 instances healthy" in sb.stderr()


def test_below_threshold_disabled_leaves_the_healthy_one(switchboard, nginx_backends, echo_backend):
    nginx = nginx_backends(1)
    broken = [echo_backend(f"broken{i}", defaults={"status": "503"}) for i in range(2)]
    addrs = [f"127.0.0.1:{b.port}" for b in broken] + [nginx.addrs[0]]
    sb = switchboard(config=health_config(addrs, max_fails=1, fail_timeout="30s",
                                          fail_on=["503"], panic_threshold=0))
    statuses = [request(sb.port).status for _ in range(12)]
    assert statuses.count(503) == 2 and statuses.count(200) == 10, statuses
    assert service_status(sb)["panic"] is False


def test_single_instance_is_never_marked_down(switchboard, echo_backend):
    broken = echo_backend("only", defaults={"status": "502"})
    sb = switchboard(config=health_config([f"127.0.0.1:{broken.port}"], max_fails=1,
                                          fail_timeout="30s", fail_on=["502"]))
    statuses = [request(sb.port).status for _ in range(5)]
    assert statuses == [502] * 5
    assert len(broken.requests) == 5
