"""No heap allocation and no lock on the request path in steady state (issue 2). The real binary
runs with request_path_count (tests/integration/request_path_count.c, built next to it) preloaded,
which counts the malloc-family calls and pthread mutex/rwlock acquisitions of the worker threads
(named sb-worker-N) into a file. Keep-alive connections are warmed up first; then thousands of
requests of several kinds (a small GET, a 64 KiB GET, a POST with a body, a 204, a pipelined pair)
go through the same connections, with the access log on."""

import os
import struct
from pathlib import Path

import pytest

from harness import binary_is_sanitized, make_config, service, switchboard_bin, wait_until
from rawhttp import RawConn

pytestmark = pytest.mark.skipif(
    binary_is_sanitized(), reason="a sanitizer runtime replaces malloc and must be loaded first")

CONNECTIONS = 4
ROUNDS = 300  # per connection, each of REQUESTS_PER_ROUND requests
REQUESTS_PER_ROUND = 6
# The worker's periodic timers (deadline sweeps, housekeeping) allocate a few times a second
# whatever the load; one allocation per request would be thousands.
MAX_ALLOCATIONS_PER_REQUEST = 1 / 20
BODY = b"b" * 1024


def read_counts(path: Path):
    """The worker threads' (allocations, locks), read from the shared file while the proxy runs."""
    return struct.unpack("<QQ", path.read_bytes()[:16])


@pytest.fixture
def counted_proxy(tmp_path, switchboard, nginx_backends, refusing_port):
    shim = Path(switchboard_bin()).parent / "librequest_path_count.so"
    assert shim.exists(), f"{shim} not built (the request_path_count target of the release build)"
    nginx = nginx_backends(2)
    (nginx.files / "64k").write_bytes(b"x" * 65536)
    counts = tmp_path / "counts"
    env = {**os.environ, "LD_PRELOAD": str(shim), "SB_COUNT_FILE": str(counts),
           "SB_COUNT_THREADS": "sb-worker"}
    # /down goes to an instance that refuses: the worker logs that, and the log takes a lock.
    config = make_config([service("app", nginx.addrs), service("down", [refusing_port().addr])],
                         routes=[{"path_prefix": "/down", "service": "down"},
                                 {"path_prefix": "/", "service": "app"}])
    return switchboard(config=config, env=env), counts


def one_round(c: RawConn):
    """Six requests on one keep-alive connection, each checked."""
    assert c.request("GET", "/").status == 200
    r = c.request("GET", "/files/64k")
    assert r.status == 200 and len(r.body) == 65536
    assert c.request("POST", "/", body=BODY).status == 200
    assert c.request("GET", "/204").status == 204
    c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 200 and c.read_response().status == 200


def test_requests_on_warm_connections_neither_allocate_nor_lock_on_the_worker(counted_proxy):
    sb, counts = counted_proxy
    conns = [RawConn(sb.port) for _ in range(CONNECTIONS)]
    try:
        for _ in range(20):  # warm-up: sessions, buffers, pooled upstream connections, file slots
            for c in conns:
                one_round(c)
        allocations_before, locks_before = read_counts(counts)
        for _ in range(ROUNDS):
            for c in conns:
                one_round(c)
        allocations_after, locks_after = read_counts(counts)
        # The counters see the worker: /lb-status builds its text in strings on the worker, and a
        # refused upstream is logged there.
        assert conns[0].request("GET", "/lb-status").status == 200
        assert conns[0].request("GET", "/down").status == 502
        allocations_then, locks_then = read_counts(counts)
        assert allocations_then > allocations_after, "the counter saw no allocation of the worker"
        assert locks_then > locks_after, "the counter saw no lock of the worker"
    finally:
        for c in conns:
            c.close()
    requests = CONNECTIONS * ROUNDS * REQUESTS_PER_ROUND
    allocations, locks = allocations_after - allocations_before, locks_after - locks_before
    print(f"on the worker over {requests} requests: {allocations} allocations, {locks} locks")
    assert allocations <= requests * MAX_ALLOCATIONS_PER_REQUEST, (allocations, requests)
    assert locks == 0, locks
    # The access log was on: its writer thread (not counted) wrote every request.
    wait_until(lambda: len(sb.access_log()) > requests, 10, message="every request logged")
