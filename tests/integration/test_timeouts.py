"""Client-side timeouts: a slow or stalled client ties up nothing but its own socket and is
disconnected when its timeout passes (client_header for the head, client_body between body reads,
keepalive_idle between requests), while everyone else is served normally."""

import select
import socket
import subprocess
import time

import pytest

from harness import binary_is_sanitized, lb_status, proxy_for, wait_until
from rawhttp import RawConn, request

FAST = {"client_header": "500ms", "client_body": "500ms", "keepalive_idle": "500ms"}


@pytest.fixture
def fast_proxy(echo_backend, switchboard):
    be = echo_backend()
    sb = proxy_for(switchboard, [be.addr], timeouts=FAST)
    return be, sb


def assert_only_timeout_answer(conn):
    """Before closing, the proxy may say 408; it must not say anything else."""
    if conn.buf:
        assert bytes(conn.buf).startswith(b"HTTP/1.1 408"), bytes(conn.buf)[:100]


def test_half_a_head_is_disconnected_after_client_header(fast_proxy):
    be, sb = fast_proxy
    with RawConn(sb.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Partial: ")
        started = time.monotonic()
        assert c.closed_within(5), "stalled head never timed out"
        elapsed = time.monotonic() - started
        assert 0.35 <= elapsed < 3, elapsed
        assert_only_timeout_answer(c)
    assert be.head_count() == 0


def test_connection_without_any_byte_is_disconnected(fast_proxy):
    be, sb = fast_proxy
    with RawConn(sb.port) as c:
        started = time.monotonic()
        assert c.closed_within(5)
        assert time.monotonic() - started >= 0.35


def test_trickling_head_is_cut_at_client_header(fast_proxy):
    """The limit is on the whole head, not between two reads: a byte every 50 ms does not help."""
    be, sb = fast_proxy
    with RawConn(sb.port) as c:
        c.send(b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ")
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < 5:
            readable, _, _ = select.select([c.sock], [], [], 0.05)  # the trickle's pace
            if readable:
                closed = c.closed_within(1)
                break
            try:
                c.send(b"a")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
        elapsed = time.monotonic() - started
        assert closed, "trickling client was never disconnected"
        assert elapsed < 2.5, elapsed
    assert be.head_count() == 0


def test_idle_keepalive_connection_closed_after_keepalive_idle(fast_proxy):
    be, sb = fast_proxy
    with RawConn(sb.port) as c:
        assert c.request().status == 200
        started = time.monotonic()
        assert c.closed_within(5), "idle keep-alive connection never closed"
        assert 0.35 <= time.monotonic() - started < 3
        assert not c.buf, f"unexpected bytes on an idle connection: {bytes(c.buf)[:100]!r}"


def test_keepalive_idle_restarts_with_each_request(fast_proxy):
    be, sb = fast_proxy
    with RawConn(sb.port) as c:
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < 1.5:  # three idle periods, but never idle for one
            assert c.request(path=f"/{n}").status == 200
            n += 1
            assert c.still_open_after(0.2)
        assert c.request().status == 200


def test_stalled_request_body_closed_after_client_body(fast_proxy):
    be, sb = fast_proxy
    with RawConn(sb.port) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        started = time.monotonic()
        assert c.closed_within(5), "stalled body never timed out"
        assert 0.35 <= time.monotonic() - started < 3
        if c.buf:
            assert bytes(c.buf).split(b" ")[1] in (b"408", b"400", b"502", b"504"), bytes(c.buf)[:100]
    assert be.completed() == []


def test_slow_body_that_keeps_moving_is_not_cut(fast_proxy):
    """client_body is between two reads: a body arriving a piece every 200 ms (total 1.2 s, over
    the 500 ms timeout) completes."""
    be, sb = fast_proxy
    with RawConn(sb.port) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\n")
        for _ in range(6):
            assert c.still_open_after(0.2)  # the pace of the upload
            c.send(b"z")
        r = c.read_response()
        assert r.status == 200 and r.json()["body_len"] == 6


def test_client_that_stops_reading_a_response_is_cut_after_client_body(fast_proxy):
    """As nginx's send_timeout: a client that reads nothing of a 50 MB response is disconnected
    once client_body passes without progress, and the upstream connection, whose response was
    cut short, is closed rather than pooled."""
    be, sb = fast_proxy
    s = socket.create_connection(("127.0.0.1", sb.port), timeout=5)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    try:
        s.sendall(b"GET /?size=50000000 HTTP/1.1\r\nHost: t\r\n\r\n")
        assert s.recv(12) == b"HTTP/1.1 200"
        # Read nothing more. The upstream connection is closed, not pooled, once the proxy gives
        # up on the stalled client.
        def upstream_connections():
            return lb_status(sb.port)["services"][0]["instances"][0]["connections"]

        wait_until(lambda: upstream_connections() == {"open": 0, "idle": 0}, 10,
                   message="the stalled client cut and its upstream connection closed")
        s.settimeout(5)
        received = 12
        while True:  # what the socket buffers held, then the end
            try:
                data = s.recv(1 << 20)
            except ConnectionResetError:
                break
            if not data:
                break
            received += len(data)
        assert received < 50_000_000
    finally:
        s.close()
    assert request(sb.port).status == 200


def test_slowloris_ties_up_nothing_but_its_own_sockets(echo_backend, switchboard):
    be = echo_backend()
    sb = proxy_for(switchboard, [be.addr], timeouts={"client_header": "2s", "keepalive_idle": "10s"})
    stalled = []
    try:
        for i in range(200):
            s = socket.create_connection(("127.0.0.1", sb.port), timeout=5)
            s.sendall(b"GET /slow HTTP/1.1\r\nHost: t\r\nX-Loris: " + str(i).encode())
            stalled.append(s)
        opened = time.monotonic()
        # Everyone else is served at once, on new connections and on a kept-alive one.
        for i in range(20):
            t0 = time.monotonic()
            r = request(sb.port, path=f"/normal/{i}", timeout=2)
            assert r.status == 200 and r.json()["target"] == f"/normal/{i}"
            assert time.monotonic() - t0 < 1.0
        with RawConn(sb.port, timeout=2) as c:
            for i in range(20):
                assert c.request(path=f"/ka/{i}").status == 200
        assert time.monotonic() - opened < 2, "normal traffic outlasted the stalled clients"

        still_open = set(stalled)
        received = {s: bytearray() for s in stalled}

        def all_closed():
            for s in list(still_open):
                s.settimeout(0)
                while True:
                    try:
                        data = s.recv(4096)
                    except BlockingIOError:
                        break  # still open
                    except ConnectionResetError:
                        data = b""
                    if not data:
                        still_open.discard(s)
                        break
                    received[s] += data
            return not still_open

        wait_until(all_closed, 8, interval=0.05, message="all 200 stalled connections closed")
        for data in received.values():
            assert not data or data.startswith(b"HTTP/1.1 408"), bytes(data[:80])
        assert be.head_count() == 40
    finally:
        for s in stalled:
            s.close()


def skip_if_sanitized():
    """The sanitizers' runtime checks some pointers by writing them to a pipe it opens then; with
    no descriptor left that fails, and UBSan reports a false type error."""
    if binary_is_sanitized():
        pytest.skip("the sanitizer runtime needs descriptors of its own")


def test_out_of_descriptors_leaves_clients_waiting_then_serves_them(nginx_backends, switchboard):
    """More clients than descriptors: the accepts that fail leave their connections in the
    backlog, the worker stays up and says why, and once descriptors free up the clients that
    waited are served."""
    skip_if_sanitized()
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    subprocess.run(["prlimit", f"--pid={sb.pid}", "--nofile=128:128"], check=True)
    clients = [socket.create_connection(("127.0.0.1", sb.port), timeout=5) for _ in range(200)]
    try:
        wait_until(lambda: "accept failed: Too many open files" in sb.stderr(), 5,
                   message="the accept failure warning")
        for s in clients[:100]:
            s.close()
        # The last connections waited in the backlog; they are accepted and served now.
        for s in clients[-10:]:
            s.sendall(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            reply = s.recv(4096)
            assert reply.startswith(b"HTTP/1.1 200"), reply[:80]
        assert sb.alive()
        assert request(sb.port).status == 200
    finally:
        for s in clients:
            s.close()


def test_no_socket_for_the_upstream_is_a_500_that_blames_no_instance(nginx_backends, switchboard):
    """Out of descriptors when a request needs its upstream connection: the request gets a 500
    (as nginx answers), and the instance is neither counted as failed nor taken out; once
    descriptors free up it serves as before."""
    skip_if_sanitized()
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    subprocess.run(["prlimit", f"--pid={sb.pid}", "--nofile=64:64"], check=True)
    first = RawConn(sb.port)
    first.request(path="/lb-health")  # accepted, and no upstream connection opened yet
    clients = [socket.create_connection(("127.0.0.1", sb.port), timeout=5) for _ in range(100)]
    try:
        wait_until(lambda: "accept failed" in sb.stderr(), 5, message="descriptors used up")
        r = first.request(path="/app")
        assert r.status == 500 and b"no socket for the upstream connection" in r.body, r
    finally:
        first.close()
        for s in clients:
            s.close()
    instance = wait_until(lambda: lb_status(sb.port), 5)["services"][0]["instances"][0]
    assert instance["state"] == "passing" and instance["failures"] == 0, instance
    assert request(sb.port, path="/app").status == 200
