"""Retries and failover against real backends: a failed attempt goes to another instance (never
the same one twice) up to `tries`, within `try_timeout`, only while the client has seen nothing;
a POST that reached an upstream is not sent again unless configured; a 502/503/504 is retried
only when `retry.on` names it; the retry budget caps retries when every instance fails; and
killing one of three backends under load costs the clients nothing."""

import json
import re
import subprocess

import pytest

from harness import make_config, service, wait_until
from rawhttp import concurrent_requests, request


def retry_config(addrs, retry=None, health=None, balance=None):
    svc = service("web", addrs, balance=balance)
    if retry is not None:
        svc["retry"] = retry
    svc["health"] = health if health is not None else {"max_fails": 0}
    return make_config([svc])


def proxied_log(sb, n):
    """The access-log records of the first `n` proxied requests (the log is written off the
    request path: polled)."""
    def records():
        got = [r for r in sb.access_log() if r["upstream"] is not None]
        return got if len(got) >= n else None
    return wait_until(records, 5, message=f"{n} access-log records")[:n]


def lb_status(sb):
    return json.loads(request(sb.port, path="/lb-status?format=json").body)


def instance(sb, addr):
    for svc in lb_status(sb)["services"]:
        for inst in svc["instances"]:
            if inst["address"] == addr:
                return inst
    raise AssertionError(f"{addr} not in /lb-status")


def test_reset_before_response_moves_a_get_to_another_instance(switchboard, echo_backend):
    broken = echo_backend("broken", defaults={"mode": "reset"})
    good = echo_backend("good")
    sb = switchboard(config=retry_config([broken.addr, good.addr]))
    for _ in range(4):
        assert request(sb.port).status == 200
    # Round robin sends two of the four requests to the broken instance first; each was retried.
    assert len(broken.requests) == 2 and len(good.completed()) == 4
    assert lb_status(sb)["retries"]["attempts"] == 2
    # Per instance: the two retries landed on the good one (of its 4 attempts).
    assert instance(sb, good.addr)["retries"] == 2 and instance(sb, good.addr)["requests"] == 4
    assert instance(sb, broken.addr)["retries"] == 0
    attempts = [r["attempts"] for r in proxied_log(sb, 4)]
    assert sorted(attempts) == [1, 1, 2, 2], attempts


@pytest.mark.parametrize("method", ["POST", "QUERY"])
def test_post_that_reached_an_upstream_is_never_sent_twice(switchboard, echo_backend, method):
    """Nor is an extension method: the proxy cannot know that one is idempotent."""
    broken = echo_backend("broken", defaults={"mode": "reset"})
    good = echo_backend("good")
    sb = switchboard(config=retry_config([broken.addr, good.addr]))
    resp = request(sb.port, method=method, body=b"pay once")
    assert resp.status == 502
    assert len(broken.requests) == 1 and len(good.requests) == 0
    assert lb_status(sb)["retries"]["attempts"] == 0


def test_post_is_retried_when_configured(switchboard, echo_backend):
    broken = echo_backend("broken", defaults={"mode": "reset"})
    good = echo_backend("good")
    sb = switchboard(config=retry_config([broken.addr, good.addr], {"non_idempotent": True}))
    assert request(sb.port, method="POST", body=b"safe to repeat").status == 200
    assert len(broken.requests) == 1 and len(good.completed()) == 1
    assert good.last().body_len == len(b"safe to repeat")


def test_post_that_reached_no_upstream_goes_to_the_next(switchboard, echo_backend, refusing_port):
    dead = refusing_port()
    good = echo_backend("good")
    sb = switchboard(config=retry_config([dead.addr, good.addr]))
    for _ in range(2):
        resp = request(sb.port, method="POST", body=b"x" * 1000)
        assert resp.status == 200
    assert [r.body_len for r in good.completed()] == [1000, 1000]


def test_status_is_retried_only_when_named(switchboard, echo_backend):
    unavailable = echo_backend("unavailable", defaults={"status": "503"})
    good = echo_backend("good")
    plain = switchboard(config=retry_config([unavailable.addr, good.addr]))
    statuses = sorted(request(plain.port).status for _ in range(4))
    assert statuses == [200, 200, 503, 503]  # not named: relayed as it is

    named = switchboard(config=retry_config([unavailable.addr, good.addr],
                                            {"on": ["error", "timeout", "503"]}))
    before = len(unavailable.requests)
    assert [request(named.port).status for _ in range(4)] == [200] * 4
    assert len(unavailable.requests) - before == 2


def test_last_try_relays_the_upstream_answer(switchboard, echo_backend):
    a = echo_backend("a", defaults={"status": "503"})
    b = echo_backend("b", defaults={"status": "503"})
    sb = switchboard(config=retry_config([a.addr, b.addr], {"on": ["error", "503"]}))
    resp = request(sb.port)
    # Both tried once; the client gets the last instance's own 503 (its JSON body), not ours.
    assert resp.status == 503
    assert json.loads(resp.body)["method"] == "GET"
    assert len(a.requests) == 1 and len(b.requests) == 1


def test_tries_bounds_the_attempts(switchboard, echo_backend, refusing_port):
    dead = [refusing_port() for _ in range(3)]
    good = echo_backend("good")
    addrs = [d.addr for d in dead] + [good.addr]
    sb = switchboard(config=retry_config(addrs, {"tries": 2}))
    resp = request(sb.port)
    assert resp.status == 502 and b"accepted the connection" in resp.body
    assert sum(instance(sb, d.addr)["failures"] for d in dead) == 2
    assert len(good.requests) == 0

    more = switchboard(config=retry_config(addrs, {"tries": 4}))
    assert request(more.port).status == 200


def test_try_timeout_moves_a_hung_attempt_on(switchboard, echo_backend):
    hung = echo_backend("hung", defaults={"mode": "hang"})
    good = echo_backend("good")
    sb = switchboard(config=retry_config([hung.addr, good.addr], {"try_timeout": "300ms"}))
    resp = request(sb.port, timeout=5)
    assert resp.status == 200 and json.loads(resp.body)["method"] == "GET"
    assert len(hung.requests) == 1 and len(good.completed()) == 1
    (record,) = proxied_log(sb, 1)
    assert record["attempts"] == 2
    # The hung attempt was cut at try_timeout (the sweep's 100 ms resolution on top), not at the
    # 60 s upstream_response timeout.
    assert record["request_ms"] < 2000, record


def test_retry_budget_caps_retries_when_every_instance_fails(switchboard, echo_backend):
    failing = [echo_backend(f"f{i}", defaults={"status": "503", "delay_ms": "300"})
               for i in range(3)]
    addrs = [f.addr for f in failing]
    retry = {"on": ["error", "503"], "tries": 3, "budget": {"percent": 20, "min": 3}}
    sb = switchboard(config=retry_config(addrs, retry), args=("--threads", "2"))
    n = 20
    statuses = [r.status for r in concurrent_requests(sb.port, n)]
    assert statuses == [503] * n
    attempts = sum(len(f.requests) for f in failing)
    # Unbudgeted, each request would try all three (60 attempts). At most max(3, 20 % of the
    # requests in flight) are in retry at once.
    assert n < attempts <= n + 2 * 6, attempts
    assert lb_status(sb)["retries"]["over_budget"] >= n - 6

    # The same failure one request at a time stays within the floor of 3: every retry happens.
    solo = switchboard(config=retry_config(addrs, retry))
    before = sum(len(f.requests) for f in failing)
    for _ in range(3):
        assert request(solo.port, timeout=20).status == 503
    assert sum(len(f.requests) for f in failing) - before == 9


def test_budget_without_floor_retries_nothing_alone(switchboard, echo_backend):
    a = echo_backend("a", defaults={"status": "503"})
    b = echo_backend("b")
    sb = switchboard(config=retry_config(
        [a.addr, b.addr], {"on": ["503"], "budget": {"percent": 20, "min": 0}}))
    statuses = sorted(request(sb.port).status for _ in range(4))
    # One request in flight: 20 % of 1 is no retry at all.
    assert statuses == [200, 200, 503, 503]
    assert lb_status(sb)["retries"] == {"attempts": 0, "over_budget": 2}


WRK_TOTAL = re.compile(r"(\d+) requests in")


def test_killing_a_backend_under_load_fails_no_client_request(switchboard, nginx_backends):
    backends = [nginx_backends(1) for _ in range(3)]
    addrs = [b.addrs[0] for b in backends]
    sb = switchboard(config=retry_config(addrs, health={"max_fails": 2, "fail_timeout": "1s"}))
    wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d4s", f"http://127.0.0.1:{sb.port}/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: lb_status(sb)["requests"] > 1000, 10, message="load running")
        backends[0].kill_hard()
        out, _ = wrk.communicate(timeout=30)
    finally:
        if wrk.poll() is None:
            wrk.kill()
    total = int(WRK_TOTAL.search(out).group(1))
    assert total >= 3000, out
    failed = [r for r in sb.access_log() if r["upstream"] is not None and r["status"] != 200]
    assert "Non-2xx" not in out and "Socket errors" not in out, (out, failed[:3])
    assert f"instance {addrs[0]} marked down" in sb.stderr()

    # The instance is tried again after fail_timeout: back on its port, it gets requests.
    revived = nginx_backends(1, ports=[int(addrs[0].rsplit(":", 1)[1])])
    assert revived.addrs == [addrs[0]]
    before = instance(sb, addrs[0])["responses"]["2xx"]

    def serving_again():
        request(sb.port)
        return instance(sb, addrs[0])["responses"]["2xx"] > before

    wait_until(serving_again, 10, interval=0.05, message="revived backend gets requests")
