"""Seeded random conversations through the real proxy, to find what hand-written cases miss.

Valid conversations are pipelined requests of every method, with no body, a Content-Length body or
a chunked one (extensions, trailers), random end-to-end fields, hop-by-hop fields (some named by
Connection), sent in random pieces. Each request must reach the backend as RFC 9110 says a proxy
forwards it, and its response must come back in order.

Mutated conversations are valid ones with bytes flipped, inserted, dropped or cut off. The proxy
may answer them with any error of its own, but it must never crash or hang, must send nothing
but whole, well-formed responses, and must close every connection once the client is done.

The seed is fixed (randomhttp.SEED), so a failure replays."""

from __future__ import annotations

import hashlib
import random
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import lb_status, make_config, service, wait_until
from randomhttp import (SEED, chunked_payload, head_bytes, mutate, random_body, random_fields,
                        responses_until_close, send_in_pieces, token)
from rawhttp import RawConn, request

# QUERY and PURGE-ALL are extension methods llhttp does not know (request_method.hpp).
METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "QUERY", "PURGE-ALL"]
# Spellings of the framing fields that say what the plain ones say; the backend gets the plain one.
CHUNKED_SPELLINGS = ["chunked"] * 6 + [",chunked", "Chunked", "CHUNKED", ", ,chunked"]
METHODS_WITH_BODIES = [m for m in METHODS if m != "HEAD"]
PATH_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()*+,;=:@"
# Escapes that a path in normal form keeps (RFC 3986 6.2.2): of characters outside the unreserved
# set, in upper-case hex. Paths here are in normal form, so they reach the backend unchanged.
PATH_ESCAPES = ["%20", "%2F", "%3F", "%23", "%25", "%C3%A9", "%00"]
# Fields the proxy adds or rewrites itself; random names never start with these.
PROXY_FIELDS = ("x-forwarded-for", "x-forwarded-proto", "x-real-ip")
TIMEOUTS = {"client_header": "3s", "client_body": "3s", "keepalive_idle": "10s",
            "upstream_response": "5s"}


class Request:
    """One generated request: its bytes and what the backend must see of it."""

    def __init__(self, method, target, end_to_end, body, framing, data):
        self.method = method
        self.target = target
        self.end_to_end = end_to_end  # (name, value) the backend must get, in order
        self.body = body
        self.framing = framing  # "none" | "length" | "chunked"
        self.bytes = data


def make_request(rng, conv, index, methods):
    method = rng.choice(methods)
    segments = ["".join(rng.choice(PATH_ESCAPES) if rng.random() < 0.05 else rng.choice(PATH_CHARS)
                        for _ in range(rng.randint(0, 10)))
                for _ in range(rng.randint(0, 3))]
    # No dot segments, with or without ";parameters" (those are normalized or refused).
    segments = [s if s.split(";")[0] not in (".", "..") else "x" + s for s in segments]
    target = f"/c{conv}/r{index}/" + "/".join(segments)
    if rng.random() < 0.4:
        query = "&".join(f"x{token(rng, 1, 5)}={token(rng, 0, 8)}" for _ in range(rng.randint(1, 3)))
        target += "?" + query.replace("#", "%23")  # a raw '#' would start a fragment: a 400
    fields = [("Host", f"h{rng.randint(0, 99)}.test")]
    end_to_end = random_fields(rng, fields, avoid=PROXY_FIELDS)
    framing, body, payload = "none", b"", b""
    if method in ("POST", "PUT", "PATCH", "QUERY") or rng.random() < 0.15:
        framing = rng.choice(["length", "chunked", "none"] if method != "HEAD" else ["none"])
    if framing == "length":
        body = payload = random_body(rng)
        length = "0" * (rng.random() < 0.2) * rng.randint(1, 3) + str(len(body))
        fields.insert(rng.randint(1, len(fields)), ("Content-Length", length))
    elif framing == "chunked":
        body = random_body(rng)
        payload = chunked_payload(rng, body)
        fields.insert(rng.randint(1, len(fields)), ("Transfer-Encoding", rng.choice(CHUNKED_SPELLINGS)))
    data = head_bytes(f"{method} {target} HTTP/1.1", fields) + payload
    return Request(method, target, end_to_end, body, framing, data)


def make_conversation(rng, conv, methods=METHODS):
    return [make_request(rng, conv, i, methods) for i in range(rng.randint(1, 5))]


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
    # The framing fields arrive in their plain spelling, whatever the client's.
    if req.framing == "chunked":
        assert seen.header_values("Transfer-Encoding") == ["chunked"], req.target
    if req.framing == "length":
        assert seen.header_values("Content-Length") == [str(len(req.body))], req.target


@pytest.fixture(scope="module")
def proxy(module_factories):
    switchboard, _, echo_backend, _, _ = module_factories
    be = echo_backend()
    sb = switchboard(config=make_config([service("app", [be.addr])], timeouts=TIMEOUTS))
    return be, sb


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


def run_mutated(sb, conv, rng):
    """Sends a mutated conversation and half-closes; returns every response that came before the
    proxy closed, after checking each is whole and well-formed."""
    # No HEAD: which responses carry no body would depend on what the mutations left of the methods.
    data = mutate(b"".join(r.bytes for r in make_conversation(rng, conv, METHODS_WITH_BODIES)), rng)
    with RawConn(sb.port, timeout=15) as c:
        try:
            send_in_pieces(c, data, rng)
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the proxy answered and closed (or reset) before the rest was sent
        return responses_until_close(c, f"conversation {conv}")


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
    wait_until(lambda: lb_status(sb.port)["connections"]["active"] == 1, timeout=10,
               message="every connection closed")
