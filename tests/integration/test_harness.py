"""The test tools themselves, without switchboard: if these fail, the other failures mean nothing."""

import asyncio
import hashlib

import pytest
import websockets

from harness import BlackholePort, pattern_bytes, wait_until
from rawhttp import Incomplete, RawConn, chunked, request


def test_nginx_backends_answer_with_their_name(nginx_backends):
    nb = nginx_backends(3)
    for i, port in enumerate(nb.ports):
        r = request(port, path="/anything")
        assert r.status == 200 and r.body == f"backend-{i}\n".encode()
        assert r.header("X-Backend") == f"backend-{i}"
        assert r.header("X-Conn")


def test_echo_backend_echoes_bodies_and_modes(echo_backend):
    be = echo_backend()
    body = pattern_bytes(100_000)
    r = request(be.port, "POST", "/x", body=body)
    assert r.status == 200 and r.json()["body_len"] == len(body)
    assert r.json()["body_sha256"] == hashlib.sha256(body).hexdigest()
    with RawConn(be.port) as c:
        c.send(b"POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(body, [1000, 7]))
        r = c.read_response()
        assert r.json()["body_len"] == len(body) and r.json()["chunked"]
        r = c.request(path="/?chunked=1&size=5000&hints=2")
        assert r.framing == "chunked" and r.body == pattern_bytes(5000) and len(r.interim) == 2
        r = c.request(path="/?mode=close&size=3000")
        assert r.framing == "close" and r.body == pattern_bytes(3000)
    with pytest.raises(Incomplete):
        request(be.port, path="/?mode=resetmid&size=100000")
    assert wait_until(lambda: be.head_count() == 5)


def test_ws_backend_echoes(ws_backend):
    async def run():
        async with websockets.connect(f"ws://{ws_backend.addr}/echo") as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
    asyncio.run(run())


def test_blackhole_port_stalls_connect():
    bh = BlackholePort()
    try:
        import socket
        s = socket.socket()
        s.settimeout(0.3)
        with pytest.raises((socket.timeout, TimeoutError)):
            s.connect(("127.0.0.1", bh.port))
        s.close()
    finally:
        bh.close()
