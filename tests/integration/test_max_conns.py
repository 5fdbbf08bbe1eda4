"""max_conns per instance with a bounded queue (nginx's max_conns, nginx plus's / HAProxy's
queue): never more than max_conns requests in flight to an instance, across workers; a request
that finds every instance full waits, and gets 503 when the queue is full or its wait too long."""

import json
import threading
import time

from harness import make_config, refused_service_setting, service, wait_until
from rawhttp import concurrent_requests, request


def limited(addrs, max_conns, queue=None, threads=1):
    svc = service("web", addrs)
    svc["max_conns"] = max_conns
    if queue is not None:
        svc["queue"] = queue
    return make_config([svc], threads=threads)


def lb_service(sb):
    return json.loads(request(sb.port, path="/lb-status?format=json").body)["services"][0]


def test_requests_beyond_max_conns_wait_their_turn(switchboard, echo_backend):
    slow = echo_backend("slow", defaults={"delay_ms": "400"})
    sb = switchboard(config=limited([slow.addr], 2, {"size": 10, "timeout": "10s"}, threads=2))
    start = time.monotonic()
    results = concurrent_requests(sb.port, 6)
    elapsed = time.monotonic() - start
    assert [r.status for r in results] == [200] * 6
    # Two at a time, across both workers: three rounds of 400 ms at least.
    assert elapsed >= 1.1, elapsed
    assert lb_service(sb)["queued"] == 0


def test_full_queue_answers_503_at_once(switchboard, echo_backend):
    a = echo_backend("a", defaults={"delay_ms": "600"})
    b = echo_backend("b", defaults={"delay_ms": "600"})
    sb = switchboard(config=limited([a.addr, b.addr], 1, {"size": 1, "timeout": "5s"}))
    results = concurrent_requests(sb.port, 4)
    statuses = sorted(r.status for r in results)
    assert statuses == [200, 200, 200, 503], statuses
    (refused,) = [r for r in results if r.status == 503]
    assert b"every instance at max_conns, queue full" in refused.body
    assert len(a.requests) + len(b.requests) == 3


def test_wait_longer_than_queue_timeout_answers_503(switchboard, echo_backend):
    slow = echo_backend("slow", defaults={"delay_ms": "1500"})
    sb = switchboard(config=limited([slow.addr], 1, {"size": 10, "timeout": "200ms"}))
    results = concurrent_requests(sb.port, 3)
    statuses = sorted(r.status for r in results)
    assert statuses == [200, 503, 503], statuses
    assert all(b"timed out in the queue" in r.body for r in results if r.status == 503)
    assert len(slow.requests) == 1


def test_a_full_instance_is_passed_over_for_one_with_room(switchboard, echo_backend):
    slow = echo_backend("slow", defaults={"delay_ms": "2000"})
    fast = echo_backend("fast")
    sb = switchboard(config=limited([slow.addr, fast.addr], 1, {"size": 0, "timeout": "1s"}))
    hold = threading.Thread(target=lambda: request(sb.port, timeout=20))
    hold.start()  # round robin's first pick: the slow instance, now full
    wait_until(lambda: len(slow.requests) == 1, 5, message="slow instance busy")
    # Even round robin's turns for the slow instance go to the one with room; none is queued.
    assert [request(sb.port).status for _ in range(4)] == [200] * 4
    assert len(fast.completed()) == 4 and len(slow.requests) == 1
    hold.join()


def test_max_conns_config_errors(tmp_path):
    cases = [
        ("max_conns: -1", "services[0].max_conns"),
        ("queue: {size: 5}", "services[0].queue: only used with max_conns"),
        ("max_conns: 2\nqueue: {timeout: 0s}", "services[0].queue.timeout"),
        ("max_conns: 2\nqueue: {depth: 5}", "services[0].queue.depth: unknown key"),
    ]
    for settings, expected in cases:
        assert expected in refused_service_setting(tmp_path, settings)
