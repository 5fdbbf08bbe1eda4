"""Seeded random conversations through the real proxy, to find what hand-written cases miss.

Valid conversations are pipelined requests of every method, with no body, a Content-Length body or
a chunked one (extensions, trailers), random end-to-end fields, hop-by-hop fields (some named by
Connection), sent in random pieces. Each request must reach the backend as RFC 9110 says a proxy
forwards it, and its response must come back in order.

Mutated conversations are valid ones with bytes flipped, inserted, dropped or cut off. The proxy
may answer them with any error of its own, but it must never crash or hang, must send nothing
but whole, well-formed responses, and must close every connection once the client is done.

The seed is fixed, so a failure replays; SB_RANDOM_SEED picks another for a longer hunt."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import make_config, service, wait_until
from rawhttp import Closed, Incomplete, RawConn, chunked, request

SEED = int(os.environ.get("SB_RANDOM_SEED", "20261207"))
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]
TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
VALUE_CHARS = "".join(chr(c) for c in range(0x21, 0x7F)) + " \t"
PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~%!$&'()*+,;=:@"
# Fields the proxy adds or rewrites itself; random names never start with these.
PROXY_FIELDS = ("x-forwarded-for", "x-forwarded-proto", "x-real-ip")
CONNECTION_HOP = ("Keep-Alive", "TE", "Trailer", "Proxy-Connection")
TIMEOUTS = {"client_header": "3s", "client_body": "3s", "keepalive_idle": "10s",
            "upstream_response": "5s"}


class Request:
    """One generated request: its bytes and what the backend must see of it."""

    def __init__(self, method, target, end_to_end, raw_fields, body, framing):
        self.method = method
        self.target = target
        self.end_to_end = end_to_end  # (name, value) the backend must get, in order
        self.raw_fields = raw_fields  # every field sent, hop-by-hop ones included
        self.body = body
        self.framing = framing  # "none" | "length" | "chunked"
        self.bytes = b""


def token(rng, lo=1, hi=12):
    return "".join(rng.choice(TOKEN_CHARS) for _ in range(rng.randint(lo, hi)))


def field_value(rng):
    # OWS around a value is not part of it (RFC 9110 5.5): the first and last characters are visible.
    inner = "".join(rng.choice(VALUE_CHARS) for _ in range(rng.randint(0, 30)))
    return rng.choice(VALUE_CHARS[:-2]) + (inner + rng.choice(VALUE_CHARS[:-2]) if inner else "")


def make_request(rng, conv, index, methods):
    method = rng.choice(methods)
    segments = ["".join(rng.choice(PATH_CHARS) for _ in range(rng.randint(0, 10)))
                for _ in range(rng.randint(0, 3))]
    target = f"/c{conv}/r{index}/" + "/".join(segments)
    if rng.random() < 0.4:
        target += "?" + "&".join(f"x{token(rng, 1, 5)}={token(rng, 0, 8)}" for _ in range(rng.randint(1, 3)))
    fields, end_to_end = [("Host", f"h{rng.randint(0, 99)}.test")], []
    end_to_end.append(fields[0])
    named = []
    # Now and then a head with many fields, half of them named by Connection.
    many = rng.random() < 0.1
    end_to_end_share, named_share = (0.4, 0.5) if many else (0.6, 0.2)
    for _ in range(rng.randint(40, 80) if many else rng.randint(0, 8)):
        roll = rng.random()
        if roll < end_to_end_share:
            name = "X-R" + token(rng)
            while name.lower().startswith(PROXY_FIELDS):
                name = "X-R" + token(rng)
            fields.append((name, field_value(rng)))
            end_to_end.append(fields[-1])
        elif roll < 1 - named_share:
            fields.append((rng.choice(CONNECTION_HOP), field_value(rng)))
        else:
            # A field the client makes hop-by-hop by naming it in Connection.
            name = "X-Hop-" + token(rng, 1, 6)
            named.append(name.lower())
            fields.append((name, field_value(rng)))
    if named or rng.random() < 0.3:
        tokens = named + ["keep-alive"] * rng.randint(0, 1)
        rng.shuffle(tokens)
        fields.insert(rng.randint(1, len(fields)), ("Connection", ", ".join(tokens) or "keep-alive"))

    framing = "none"
    body = b""
    if method in ("POST", "PUT", "PATCH") or rng.random() < 0.15:
        framing = rng.choice(["length", "chunked", "none"] if method != "HEAD" else ["none"])
        size = rng.choice([0, 1, rng.randint(2, 200), rng.randint(200, 5000), rng.randint(40_000, 120_000)])
        body = rng.randbytes(size) if framing != "none" else b""
    head_fields = list(fields)
    payload = body
    if framing == "length":
        head_fields.insert(rng.randint(1, len(head_fields)), ("Content-Length", str(len(body))))
    if framing == "chunked":
        head_fields.insert(rng.randint(1, len(head_fields)), ("Transfer-Encoding", "chunked"))
        sizes = [rng.randint(1, max(1, len(body) // 3 + 1)) for _ in range(4)]
        payload = chunked(body, sizes)
        if rng.random() < 0.3:  # chunk extensions
            payload = payload.replace(b"\r\n", b";ext=1\r\n", 1)
        if rng.random() < 0.3:  # a trailer section
            payload = payload[:-2] + b"X-Trailer: t\r\n\r\n"
    req = Request(method, target, end_to_end, head_fields, body, framing)
    head = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in head_fields) + "\r\n"
    req.bytes = head.encode("latin-1") + payload
    return req


def make_conversation(rng, conv, methods=METHODS):
    return [make_request(rng, conv, i, methods) for i in range(rng.randint(1, 5))]


def send_in_pieces(conn, data, rng):
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6)))) if len(data) > 1 else []
    start = 0
    for cut in cuts + [len(data)]:
        conn.send(data[start:cut])
        start = cut


def check_forwarded(req, seen):
    """What the backend saw of `req` (harness.EchoRequest) is what RFC 9110 says a proxy forwards."""
    assert seen.method == req.method and seen.version == "HTTP/1.1", (seen.method, seen.version)
    got = [(k, v) for k, v in seen.headers
           if k.lower() not in PROXY_FIELDS + ("content-length", "transfer-encoding")]
    assert got == req.end_to_end, f"{req.target}: forwarded fields\n{got}\nwanted\n{req.end_to_end}"
    names = [k.lower() for k, _ in seen.headers]
    assert names.count("x-forwarded-for") == 1 and seen.header_values("X-Forwarded-For") == ["127.0.0.1"]
    assert seen.header_values("X-Real-IP") == ["127.0.0.1"]
    assert seen.header_values("X-Forwarded-Proto") == ["http"]
    assert seen.body_len == len(req.body), (req.target, seen.body_len, len(req.body))
    assert seen.body_sha256 == hashlib.sha256(req.body).hexdigest(), req.target
    assert seen.chunked == (req.framing == "chunked"), req.target


@pytest.fixture(scope="module")
def proxy(module_factories):
    switchboard, _, echo_backend, _, _ = module_factories
    be = echo_backend()
    sb = switchboard(config=make_config([service("app", [be.addr])], timeouts=TIMEOUTS))
    return be, sb


def active_connections(sb):
    status = json.loads(request(sb.port, path="/lb-status?format=json").body)
    return status["connections"]["active"]


def run_valid(sb, conv, rng):
    requests = make_conversation(rng, conv)
    with RawConn(sb.port, timeout=15) as c:
        send_in_pieces(c, b"".join(r.bytes for r in requests), rng)
        responses = [c.read_response(method=r.method) for r in requests]
    return requests, responses


def test_valid_conversations_are_forwarded_exactly_and_answered_in_order(proxy):
    be, sb = proxy
    rng = random.Random(SEED)
    convs = [(i, random.Random(rng.random())) for i in range(60)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda c: run_valid(sb, *c), convs))
    seen = {r.target: r for r in be.completed()}
    for requests, responses in results:
        for req, resp in zip(requests, responses):
            assert resp.status == 200, (req.target, resp, resp.body[:200])
            assert len(resp.interim) == 0, (req.target, resp.interim)
            assert resp.header("X-Backend") == "echo"
            if req.method == "HEAD":
                assert resp.body == b""
            else:
                # In order: each response is the one for its own request.
                assert resp.json()["target"] == req.target, (req.target, resp.body[:200])
            assert req.target in seen, f"{req.target} never reached the backend"
            check_forwarded(req, seen[req.target])
    assert sum(len(r) for r, _ in results) == len([t for t in seen if t.startswith("/c")])


STATUS_LINE = re.compile(rb"HTTP/1\.1 [1-5][0-9][0-9] ")


def mutate(data: bytes, rng) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        if not out:
            break
        at = rng.randrange(len(out))
        kind = rng.randrange(7)
        if kind == 0:
            out[at] = rng.randrange(256)
        elif kind == 1:
            out[at:at] = rng.choice([b"\r", b"\n", b"\0", b" ", b"\t", b":", b",", b"\r\n", b"0", b"-"])
        elif kind == 2:
            del out[at:at + rng.randint(1, 8)]
        elif kind == 3:
            piece = out[at:at + rng.randint(1, 40)]
            out[at:at] = piece
        elif kind == 4:
            del out[at:]
        elif kind == 5:
            # A line ending broken: the LF of one CRLF replaced by another byte.
            ends = [m.start() + 1 for m in re.finditer(b"\r\n", out)]
            if ends:
                out[rng.choice(ends)] = rng.choice(b"\rXx0 \t;:")
        else:
            out[at:at] = rng.choice([b"Content-Length: 7\r\n", b"Transfer-Encoding: chunked\r\n",
                                     b"Connection: close\r\n", b"Expect: 100-continue\r\n",
                                     b"Upgrade: websocket\r\n", b"Host: other\r\n"])
    return bytes(out)


def run_mutated(sb, conv, rng):
    """Sends a mutated conversation and half-closes; returns every response that came before the
    proxy closed, after checking each is whole and well-formed and that the close came."""
    # No HEAD: which responses carry no body would depend on what the mutations left of the methods.
    data = mutate(b"".join(r.bytes for r in make_conversation(rng, conv, METHODS_WITH_BODIES)), rng)
    responses = []
    with RawConn(sb.port, timeout=15) as c:
        try:
            send_in_pieces(c, data, rng)
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the proxy answered and closed (or reset) before the rest was sent
        while c.buf or c._fill():
            try:
                resp = c.read_response(method="GET")
            except (Closed, Incomplete) as exc:
                raise AssertionError(f"conversation {conv}: a response was cut off: {exc}") from None
            assert resp.version == "HTTP/1.1" and 100 <= resp.status <= 599, (conv, resp)
            responses.append(resp)
    return responses


METHODS_WITH_BODIES = [m for m in METHODS if m != "HEAD"]


def test_mutated_conversations_get_whole_responses_and_leave_nothing_behind(proxy):
    be, sb = proxy
    rng = random.Random(SEED + 1)
    convs = [(1000 + i, random.Random(rng.random())) for i in range(1000)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda c: run_mutated(sb, *c), convs))
    statuses = sorted({r.status for responses in results for r in responses})
    # The mutations reach both outcomes: requests still forwarded, and requests refused.
    assert 200 in statuses and 400 in statuses, statuses
    # The backend answers every request it can read, at once. A 502 or 504 means the proxy
    # forwarded framing the backend read differently (so it failed, or waited for more).
    for (conv, _), responses in zip(convs, results):
        assert not any(r.status in (502, 504) for r in responses), (conv, responses)
    assert request(sb.port, path="/lb-health").status == 200
    # Every client connection is closed and its session gone: only the status request is left.
    wait_until(lambda: active_connections(sb) == 1, timeout=10, message="every connection closed")
