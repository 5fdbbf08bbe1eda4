"""No heap allocation on the request path in steady state (issue 2): the real binary runs with
alloc_count (tests/integration/alloc_count.c, built next to it) preloaded, which counts the
malloc-family calls of the worker threads (named sb-worker-N) into a file. Keep-alive connections
are warmed up first; then thousands of requests of several kinds (a small GET, a 64 KiB GET, a POST
with a body, a 204, a pipelined pair) go through the same connections, with the access log on."""

import os
import struct
from pathlib import Path

import pytest

from harness import binary_is_sanitized, proxy_for, switchboard_bin, wait_until
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


@pytest.fixture
def counted_proxy(tmp_path, switchboard, nginx_backends):
    shim = Path(switchboard_bin()).parent / "liballoc_count.so"
    assert shim.exists(), f"{shim} not built (the alloc_count target of the release build)"
    nginx = nginx_backends(2)
    (nginx.files / "64k").write_bytes(b"x" * 65536)
    count_file = tmp_path / "allocations"
    env = {**os.environ, "LD_PRELOAD": str(shim), "SB_ALLOC_COUNT_FILE": str(count_file),
           "SB_ALLOC_COUNT_THREADS": "sb-worker"}
    sb = proxy_for(lambda **kw: switchboard(env=env, **kw), nginx.addrs)

    def allocations():
        return struct.unpack("<Q", count_file.read_bytes()[:8])[0]

    return sb, allocations


def one_round(c: RawConn):
    """Six requests on one keep-alive connection, each checked."""
    assert c.request("GET", "/").status == 200
    r = c.request("GET", "/files/64k")
    assert r.status == 200 and len(r.body) == 65536
    assert c.request("POST", "/", body=BODY).status == 200
    assert c.request("GET", "/204").status == 204
    c.send(b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n")
    assert c.read_response().status == 200 and c.read_response().status == 200


def test_requests_on_warm_connections_allocate_nothing_on_the_worker(counted_proxy):
    sb, allocations = counted_proxy
    conns = [RawConn(sb.port) for _ in range(CONNECTIONS)]
    try:
        for _ in range(20):  # warm-up: sessions, buffers, pooled upstream connections, file slots
            for c in conns:
                one_round(c)
        before = allocations()
        for _ in range(ROUNDS):
            for c in conns:
                one_round(c)
        during = allocations() - before
        # The counter sees the worker: /lb-status builds its text in strings on the worker.
        assert conns[0].request("GET", "/lb-status").status == 200
        assert allocations() > before + during, "the counter saw no allocation of the worker"
    finally:
        for c in conns:
            c.close()
    requests = CONNECTIONS * ROUNDS * REQUESTS_PER_ROUND
    print(f"{during} allocations on the worker over {requests} requests")
    assert during <= requests * MAX_ALLOCATIONS_PER_REQUEST, (during, requests)
    # The access log was on: its writer thread (not counted) wrote every request.
    wait_until(lambda: len(sb.access_log()) > requests, 10, message="every request logged")
