"""WebSocket through the proxy: a real websockets client and server (python3-websockets). After the
upstream's 101 the proxy is a byte tunnel both ways with its own idle timeout."""

import asyncio
import os
import time

import websockets

from harness import heads_received, proxy_for, serve_in_threads, wait_until
from rawhttp import RawConn, request


def ws_url(sb, path):
    return f"ws://127.0.0.1:{sb.port}{path}"


def connect(sb, path="/echo"):
    return websockets.connect(ws_url(sb, path), max_size=None, ping_interval=None, open_timeout=5,
                              close_timeout=5)


def test_echo_text_and_binary_many_messages(ws_backend, switchboard):
    sb = proxy_for(switchboard, [ws_backend.addr])
    rnd = os.urandom(1 << 20)
    messages = []
    for i in range(400):
        messages.append(f"text message {i} " + "é" * (i % 50))
        messages.append(rnd[: (i * 997) % 70000])
    messages.append(rnd)  # 1 MiB in one frame
    messages.append("")

    async def run():
        async with connect(sb) as ws:
            async def sender():
                for m in messages:
                    await ws.send(m)

            async def receiver():
                got = []
                for _ in messages:
                    got.append(await asyncio.wait_for(ws.recv(), 10))
                return got

            _, got = await asyncio.gather(sender(), receiver())
            return got

    got = asyncio.run(run())
    assert len(got) == len(messages)
    for sent, back in zip(messages, got):
        assert type(sent) is type(back) and sent == back
    conn = ws_backend.connections[0]
    hdrs = {k.lower(): v for k, v in conn.headers}
    assert hdrs["upgrade"].lower() == "websocket"
    assert "upgrade" in hdrs["connection"].lower()
    assert "sec-websocket-key" in hdrs
    assert conn.received == len(messages)


def test_server_speaks_first(ws_backend, switchboard):
    sb = proxy_for(switchboard, [ws_backend.addr])

    async def run():
        async with connect(sb, "/push?n=100") as ws:
            return [await asyncio.wait_for(ws.recv(), 5) for _ in range(100)]

    assert asyncio.run(run()) == [f"push-{i}" for i in range(100)]


def test_client_close_closes_the_tunnel(ws_backend, switchboard):
    sb = proxy_for(switchboard, [ws_backend.addr])

    async def run():
        ws = await connect(sb)
        await ws.send("one")
        assert await ws.recv() == "one"
        await ws.close(1000, "done")
        return ws.close_code

    assert asyncio.run(run()) == 1000
    conn = ws_backend.connections[0]
    assert conn.closed.wait(5), "backend side of the tunnel never closed"
    assert conn.close_code == 1000


def test_server_close_reaches_the_client(ws_backend, switchboard):
    sb = proxy_for(switchboard, [ws_backend.addr])

    async def run():
        async with connect(sb, "/close?code=4001") as ws:
            await ws.send("bye please")
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except websockets.ConnectionClosed as exc:
                await asyncio.wait_for(ws.wait_closed(), 5)
                return exc.rcvd.code if exc.rcvd else None, exc.rcvd.reason if exc.rcvd else None
        return None

    assert asyncio.run(run()) == (4001, "bye")
    assert ws_backend.connections[0].closed.wait(5)


def test_backend_vanishing_closes_the_client_tunnel(ws_backend, switchboard):
    sb = proxy_for(switchboard, [ws_backend.addr])

    async def run():
        async with connect(sb) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            started = time.monotonic()
            # The whole server goes away, its connections included.
            stopping = asyncio.get_running_loop().run_in_executor(None, ws_backend.stop)
            try:
                await asyncio.wait_for(ws.wait_closed(), 10)
            except asyncio.TimeoutError:
                return None
            finally:
                await stopping
            return time.monotonic() - started

    elapsed = asyncio.run(run())
    assert elapsed is not None and elapsed < 10, "client tunnel stayed open after the backend left"


def test_idle_tunnel_is_closed_after_websocket_idle(ws_backend, switchboard):
    sb = proxy_for(switchboard, [ws_backend.addr], timeouts={"websocket_idle": "500ms"})

    async def run():
        async with connect(sb) as ws:
            await ws.send("ping")
            assert await ws.recv() == "ping"
            started = time.monotonic()
            await asyncio.wait_for(ws.wait_closed(), 5)
            return time.monotonic() - started

    elapsed = asyncio.run(run())
    assert 0.35 <= elapsed < 4, elapsed
    assert ws_backend.connections[0].closed.wait(5), "backend side of the idle tunnel stayed open"


def test_active_tunnel_outlives_websocket_idle(ws_backend, switchboard):
    sb = proxy_for(switchboard, [ws_backend.addr], timeouts={"websocket_idle": "500ms"})

    async def run():
        async with connect(sb) as ws:
            started = time.monotonic()
            n = 0
            while time.monotonic() - started < 1.5:  # three idle timeouts long, never idle for one
                await ws.send(f"m{n}")
                assert await asyncio.wait_for(ws.recv(), 2) == f"m{n}"
                await asyncio.sleep(0.15)  # the pace of the conversation
                n += 1
            return n

    assert asyncio.run(run()) >= 5


def test_tunnel_is_not_subject_to_http_timeouts(ws_backend, switchboard):
    """keepalive_idle, client_header and upstream_response are HTTP timeouts; a quiet tunnel
    outlives them and is only bound by websocket_idle."""
    sb = proxy_for(switchboard, [ws_backend.addr], timeouts={
        "keepalive_idle": "300ms", "client_header": "300ms", "upstream_response": "300ms",
        "websocket_idle": "10s"})

    async def run():
        async with connect(sb) as ws:
            await ws.send("a")
            assert await ws.recv() == "a"
            try:
                await asyncio.wait_for(ws.recv(), 1.0)  # one second of silence
            except asyncio.TimeoutError:
                pass
            await ws.send("b")
            return await asyncio.wait_for(ws.recv(), 2)

    assert asyncio.run(run()) == "b"


def test_http_keeps_working_beside_tunnels(ws_backend, nginx_backends, switchboard):
    from harness import make_config, service
    nb = nginx_backends(1)
    cfg = make_config([service("ws", [ws_backend.addr]), service("web", nb.addrs)],
                      routes=[{"path_prefix": "/echo", "service": "ws"}, {"path_prefix": "/", "service": "web"}])
    sb = switchboard(config=cfg)

    async def run():
        socks = [await connect(sb) for _ in range(10)]
        for i, ws in enumerate(socks):
            await ws.send(f"t{i}")
        for i, ws in enumerate(socks):
            assert await ws.recv() == f"t{i}"
        # Plain HTTP on the side while the tunnels are open.
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, lambda: request(sb.port, path="/page"))
        for ws in socks:
            await ws.close()
        return r

    r = asyncio.run(run())
    assert r.status == 200 and r.body == b"backend-0\n"
    wait_until(lambda: all(c.closed.is_set() for c in ws_backend.connections), 5)


def test_upgrade_refused_by_backend_is_a_normal_response(nginx_backends, switchboard):
    """nginx ignores Upgrade and answers 200: the connection stays HTTP and keeps working."""
    nb = nginx_backends(1)
    sb = proxy_for(switchboard, nb.addrs)
    with RawConn(sb.port) as c:
        r = c.request(path="/", headers=[("Connection", "Upgrade"), ("Upgrade", "websocket"),
                                         ("Sec-WebSocket-Version", "13"),
                                         ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")])
        assert r.status == 200 and r.body == b"backend-0\n"
        r = c.request(path="/again")
        assert r.status == 200 and r.body == b"backend-0\n"


def test_only_websocket_upgrades_become_tunnels(echo_backend, switchboard):
    """Any other Upgrade (h2c above all) is dropped as the hop-by-hop field it is, so the request
    is served as plain HTTP/1.1. A tunnel to a server that speaks HTTP/2 behind the proxy would
    carry requests that no route chose ("h2c smuggling")."""
    be = echo_backend()
    sb = proxy_for(switchboard, [be.addr])
    h2c = [("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
           ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")]
    with RawConn(sb.port) as c:
        for headers in (h2c, [("Connection", "Upgrade"), ("Upgrade", "websocket, h2c")],
                        [("Connection", "Upgrade"), ("Upgrade", "TLS/1.2")]):
            r = c.request(path="/plain", headers=headers)
            assert r.status == 200, r
            seen = {k.lower() for k, _ in r.json()["headers"]}
            assert not seen & {"upgrade", "http2-settings", "connection"}, seen
        assert c.request(path="/after").status == 200  # still HTTP on the same connection


def test_a_switch_the_client_did_not_get_to_ask_for_is_a_502(switchboard):
    """A server that switches to h2c whenever asked: the proxy never asked it to, so its 101 is
    refused, and no tunnel opens."""
    def switch_to_h2c(sock):
        with sock:
            for _ in heads_received(sock):
                sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n")

    lsock, addr = serve_in_threads(switch_to_h2c)
    try:
        sb = proxy_for(switchboard, [addr])
        with RawConn(sb.port) as c:
            r = c.request(path="/", headers=[("Connection", "Upgrade, HTTP2-Settings"), ("Upgrade", "h2c"),
                                             ("HTTP2-Settings", "AAMAAABkAARAAAAAAAIAAAAA")])
            assert r.status == 502, r
    finally:
        lsock.close()
