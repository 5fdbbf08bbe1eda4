"""Seeded random responses from a raw upstream, to find where the proxy could read a response
differently from the upstream or the client.

Each exchange sends GET /v/<n> or GET /m/<n>. The upstream answers with a random response for it
(status, end-to-end and hop-by-hop fields, a Content-Length, chunked or close-delimited body); under
/m/ the bytes are mutated, and the upstream then closes or keeps the connection as it likes.

- A valid response reaches the client as sent, minus its hop-by-hop fields.
- Whatever the upstream sent, what the client gets is whole, well-formed responses (or a close).
- The client's next request, on the same connection if the proxy kept it, gets exactly its own
  response: nothing of a damaged response is ever read as part of another, on any connection."""

from __future__ import annotations

import random
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import heads_received, lb_status, make_config, serve_in_threads, service, wait_until
from randomhttp import SEED, chunked_payload, head_bytes, mutate, random_body, random_fields
from rawhttp import Closed, Incomplete, RawConn, request

# A damaged answer that leaves the proxy waiting for more costs upstream_response; a valid one
# comes at once, so 3 s is far from it even on a loaded machine under ASan.
TIMEOUTS = {"upstream_response": "3s", "keepalive_idle": "10s"}
REASONS = {200: "OK", 201: "Created", 204: "No Content", 301: "Moved Permanently", 404: "Not Found",
           500: "Internal Server Error", 503: "Service Unavailable"}


class Response:
    """A generated response: its bytes, what the client must get of it, and whether the upstream
    closes after it."""

    def __init__(self, target):
        rng = random.Random(f"{SEED}-{target}")
        self.status = rng.choice([200, 200, 200, 201, 204, 301, 404, 500, 503])
        fields = [("X-Id", target)]
        self.end_to_end = random_fields(rng, fields)
        self.framing = "none" if self.status == 204 else rng.choice(["length", "length", "chunked", "close"])
        self.body = b"" if self.framing == "none" else random_body(rng)
        payload = self.body
        if self.framing == "length":
            fields.insert(rng.randint(1, len(fields)), ("Content-Length", str(len(self.body))))
        elif self.framing == "chunked":
            payload = chunked_payload(rng, self.body)
            fields.insert(rng.randint(1, len(fields)), ("Transfer-Encoding", "chunked"))
        # Now and then interim responses first: the proxy relays them (to an HTTP/1.1 client).
        self.interim = rng.choice([0, 0, 0, 0, 1, 2])
        head = b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n" * self.interim
        head += head_bytes(f"HTTP/1.1 {self.status} {REASONS[self.status]}", fields)
        self.mutated = target.startswith("/m/")
        self.bytes = mutate(head + payload, rng) if self.mutated else head + payload
        self.head_only = head  # what a valid answer to HEAD sends
        self.close_after = self.framing == "close" or (self.mutated and rng.random() < 0.5)


class RandomUpstream:
    """Answers every request with Response(target), head only to a valid HEAD; a thread per
    connection."""

    def __init__(self):
        self.lsock, self.addr = serve_in_threads(self._serve)

    def _serve(self, sock):
        with sock:
            try:
                for head in heads_received(sock):
                    method, target, _ = head.split(b" ", 2)
                    response = Response(target.decode())
                    # A damaged answer to HEAD sends the body anyway.
                    head_only = method == b"HEAD" and not response.mutated
                    sock.sendall(response.head_only if head_only else response.bytes)
                    if response.close_after:
                        return
            except OSError:
                return

    def stop(self):
        self.lsock.close()


@pytest.fixture(scope="module")
def proxy(module_factories):
    switchboard = module_factories[0]
    upstream = RandomUpstream()
    sb = switchboard(config=make_config([service("app", [upstream.addr])], timeouts=TIMEOUTS))
    yield sb
    upstream.stop()


IMF_FIXDATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                         r"\d{4} \d\d:\d\d:\d\d GMT")


def check_valid(resp, expected, what, method="GET", version="HTTP/1.1"):
    assert resp.status == expected.status, (what, resp)
    # HTTP/1.0 has no 1xx: a proxy must not send one to an HTTP/1.0 client (RFC 9110 15.2).
    interim = 0 if version == "HTTP/1.0" else expected.interim
    assert [r.status for r in resp.interim] == [103] * interim, (what, resp.interim)
    got = [(k, v) for k, v in resp.headers if k.lower() not in ("content-length", "transfer-encoding", "connection")]
    # RFC 9110 6.6.1: the proxy dates a response that came without a Date, after its fields.
    assert got and got[-1][0] == "Date" and IMF_FIXDATE.fullmatch(got[-1][1]), (what, got[-1:])
    got = got[:-1]
    assert got == expected.end_to_end, f"{what}: fields\n{got}\nwanted\n{expected.end_to_end}"
    body = b"" if method == "HEAD" else expected.body
    assert resp.body == body, (what, len(resp.body), len(body))


def exchange(sb, n, mutated):
    """One damaged (or valid) exchange, then a valid one: on the same connection if it is still
    open, on a new one otherwise."""
    first = f"/{'m' if mutated else 'v'}/{n}"
    # Every fourth client speaks HTTP/1.0: chunked bodies reach it decoded, and its connection
    # closes after the response. Every fifth request is HEAD (a damaged answer to it carries a body).
    version = "HTTP/1.0" if n % 4 == 3 else "HTTP/1.1"
    method = "HEAD" if n % 5 == 4 else "GET"
    c = RawConn(sb.port, timeout=10)
    try:
        c.send(f"{method} {first} {version}\r\nHost: t\r\n\r\n".encode())
        try:
            resp = c.read_response(method=method)
        except (Closed, Incomplete):
            assert mutated, f"{first}: a valid response was cut off"
            resp = None
        if resp is not None and not mutated:
            check_valid(resp, Response(first), first, method, version)
            if version == "HTTP/1.0":
                assert not resp.has("Transfer-Encoding"), (first, resp.headers)
        if resp is None or c.eof or resp.header("Connection", "").lower() == "close" or version == "HTTP/1.0":
            c.close()
            c = RawConn(sb.port, timeout=10)
        follow = f"/v/{n}.next"
        c.send(f"GET {follow} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        check_valid(c.read_response(), Response(follow), f"{follow} after {first}")
    finally:
        c.close()


def test_valid_responses_are_relayed_exactly(proxy):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: exchange(proxy, n, False), range(150)))


def test_a_damaged_response_never_leaks_into_another(proxy):
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: exchange(proxy, n, True), range(1000, 1300)))
    assert request(proxy.port, path="/lb-health").status == 200
    wait_until(lambda: lb_status(proxy.port)["connections"]["active"] == 1, timeout=10,
               message="every connection closed")
