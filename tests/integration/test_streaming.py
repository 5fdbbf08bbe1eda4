"""1 GiB bodies through the proxy in constant memory: uploads (Content-Length and chunked) to the echo
backend, which hashes and discards, and downloads of a sparse 1 GiB file from nginx. The proxy's
resident memory is read from /proc/<pid>/status while the bytes flow."""

import hashlib
import os
import socket
import subprocess
import threading
import time

import pytest

from harness import binary_is_sanitized, pattern_bytes, proxy_for
from rawhttp import RawConn, request

GIB = 1 << 30
BLOCK = pattern_bytes(1 << 20)
# A sanitizer build's RSS is dominated by shadow memory and its free-quarantine: there the tests
# still stream and check the bytes, but the bound is loose.
MAX_GROWTH_KIB = (512 if binary_is_sanitized() else 32) * 1024


class MemoryWatch:
    """Samples the proxy's VmRSS every 50 ms in a thread; `growth_kib()` is the peak over the
    baseline taken at start (VmHWM counts too, when it rose during the watch)."""

    def __init__(self, sb):
        self.sb = sb
        self.baseline = sb.rss_kib()
        self.hwm_before = sb.hwm_kib()
        self.peak = self.baseline
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.05):
            try:
                self.peak = max(self.peak, self.sb.rss_kib())
                self.samples += 1
            except (OSError, KeyError, ValueError):
                return

    def stop(self):
        self._stop.set()
        self._thread.join(5)
        hwm = self.sb.hwm_kib()
        if hwm > self.hwm_before:
            self.peak = max(self.peak, hwm)
        self.peak = max(self.peak, self.sb.rss_kib())
        return self

    def growth_kib(self):
        return self.peak - self.baseline

    def __repr__(self):
        return f"baseline {self.baseline} KiB, peak {self.peak} KiB, {self.samples} samples"


def block_sha256(total):
    h = hashlib.sha256()
    for _ in range(total // len(BLOCK)):
        h.update(BLOCK)
    return h.hexdigest()


@pytest.fixture(scope="module")
def gib_sha256():
    return block_sha256(GIB)


@pytest.fixture
def echo_proxy(echo_backend, switchboard):
    be = echo_backend()
    sb = proxy_for(switchboard, [be.addr], args=["--access-log", "off"])
    # Warm up: first request allocates the connection, buffers and pool entries.
    assert request(sb.port, "POST", "/warm", body=BLOCK).status == 200
    return be, sb


def upload_gib_in_constant_memory(sb, gib_sha256, before=None):
    """POSTs 1 GiB with a Content-Length through `sb` to the echo backend (after `before(conn)`,
    on the same connection), and asserts it arrived whole while the proxy's memory stayed flat."""
    watch = MemoryWatch(sb)
    with RawConn(sb.port, timeout=60) as c:
        if before is not None:
            before(c)
        c.send(f"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: {GIB}\r\n\r\n".encode())
        for _ in range(GIB // len(BLOCK)):
            c.sock.sendall(BLOCK)
        r = c.read_response()
    watch.stop()
    print(watch)
    assert r.status == 200
    assert r.json()["body_len"] == GIB
    assert r.json()["body_sha256"] == gib_sha256
    assert watch.growth_kib() < MAX_GROWTH_KIB, watch


@pytest.mark.slow
def test_upload_1gib_content_length_in_constant_memory(echo_proxy, gib_sha256):
    be, sb = echo_proxy
    upload_gib_in_constant_memory(sb, gib_sha256)


@pytest.mark.slow
def test_upload_1gib_on_a_keep_alive_connection_in_constant_memory(echo_proxy, gib_sha256):
    """The upload is the connection's second request, so the proxy receives it through the client
    socket's multishot receive (provided buffers, throttled when the upstream is slower)."""
    be, sb = echo_proxy

    def first_request(c):
        c.send(b"POST /first HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello")
        first = c.read_response()
        assert first.status == 200 and first.json()["body_len"] == 5

    upload_gib_in_constant_memory(sb, gib_sha256, before=first_request)


@pytest.mark.slow
def test_upload_1gib_chunked_in_constant_memory(echo_proxy, gib_sha256):
    be, sb = echo_proxy
    watch = MemoryWatch(sb)
    chunk = f"{len(BLOCK):x}\r\n".encode() + BLOCK + b"\r\n"
    with RawConn(sb.port, timeout=60) as c:
        c.send(b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(GIB // len(BLOCK)):
            c.sock.sendall(chunk)
        c.send(b"0\r\n\r\n")
        r = c.read_response()
    watch.stop()
    print(watch)
    assert r.status == 200
    assert r.json()["body_len"] == GIB
    assert r.json()["body_sha256"] == gib_sha256
    assert watch.growth_kib() < MAX_GROWTH_KIB, watch


@pytest.fixture
def big_file_proxy(nginx_backends, switchboard):
    nb = nginx_backends(1)
    with open(nb.files / "big.bin", "wb") as f:
        f.truncate(GIB)  # sparse: costs no disk
    sb = proxy_for(switchboard, nb.addrs, args=["--access-log", "off"])
    assert request(sb.port, path="/").status == 200
    return nb, sb


@pytest.mark.slow
def test_download_1gib_with_curl_in_constant_memory(big_file_proxy):
    nb, sb = big_file_proxy
    watch = MemoryWatch(sb)
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "--max-time", "120",
         f"http://127.0.0.1:{sb.port}/files/big.bin"],
        capture_output=True, text=True, timeout=130)
    watch.stop()
    print(watch)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["200", str(GIB)]
    assert watch.growth_kib() < MAX_GROWTH_KIB, watch


@pytest.mark.slow
def test_download_1gib_to_a_stalling_client_applies_backpressure(big_file_proxy):
    """The client stops reading for a second: the proxy must stop reading from nginx rather than
    buffer the file. Then the rest arrives intact (the sparse file is all zeros)."""
    nb, sb = big_file_proxy
    watch = MemoryWatch(sb)
    s = socket.create_connection(("127.0.0.1", sb.port), timeout=60)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    try:
        s.sendall(b"GET /files/big.bin HTTP/1.1\r\nHost: t\r\n\r\n")
        buf = bytearray(1 << 20)
        view = memoryview(buf)
        got = s.recv_into(view)
        head_end = bytes(buf[:got]).find(b"\r\n\r\n")
        assert head_end > 0 and bytes(buf[:12]) == b"HTTP/1.1 200"
        assert f"Content-Length: {GIB}".encode() in bytes(buf[:head_end])
        body = got - head_end - 4
        stalled_until = time.monotonic() + 1.0
        while time.monotonic() < stalled_until:  # the stall itself: read nothing for a second
            time.sleep(0.05)
            assert sb.rss_kib() - watch.baseline < MAX_GROWTH_KIB, "proxy buffers for a stalled client"
        zeros = bytes(1 << 20)
        while body < GIB:
            n = s.recv_into(view, min(len(buf), GIB - body))
            assert n > 0, f"connection closed after {body} bytes"
            assert view[:n] == zeros[:n]
            body += n
    finally:
        s.close()
    watch.stop()
    print(watch)
    assert body == GIB
    assert watch.growth_kib() < MAX_GROWTH_KIB, watch


def test_medium_chunked_download_intact(echo_backend, switchboard):
    be = echo_backend()
    sb = proxy_for(switchboard, [be.addr], args=["--access-log", "off"])
    size = 32 * 1024 * 1024
    r = request(sb.port, path=f"/?chunked=1&size={size}", timeout=30)
    assert r.status == 200
    assert len(r.body) == size and r.body == pattern_bytes(size)


def test_many_concurrent_medium_uploads(echo_backend, switchboard):
    be = echo_backend()
    sb = proxy_for(switchboard, [be.addr], args=["--access-log", "off"])
    body = os.urandom(4 * 1024 * 1024)
    digest = hashlib.sha256(body).hexdigest()
    results = []

    def one():
        r = request(sb.port, "POST", "/up", body=body, timeout=30)
        results.append((r.status, r.json()["body_len"], r.json()["body_sha256"]))

    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [(200, len(body), digest)] * 8
