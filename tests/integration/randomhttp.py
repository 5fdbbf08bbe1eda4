"""Seeded random HTTP/1.1 pieces for the random-conversation tests: fields (end-to-end and
hop-by-hop), bodies in both framings, mutations of valid bytes, and a reader that takes every
response until the proxy closes. The seed is fixed, so a failure replays; SB_RANDOM_SEED picks
another for a longer hunt."""

from __future__ import annotations

import os
import re

from rawhttp import Closed, Incomplete, chunked

SEED = int(os.environ.get("SB_RANDOM_SEED", "20261207"))
TOKEN_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~"
VALUE_CHARS = "".join(chr(c) for c in range(0x21, 0x7F)) + " \t"
# Hop-by-hop by definition (RFC 9110 7.6.1), whether Connection names them or not.
CONNECTION_HOP = ("Keep-Alive", "TE", "Trailer", "Proxy-Connection")


def token(rng, lo=1, hi=12):
    return "".join(rng.choice(TOKEN_CHARS) for _ in range(rng.randint(lo, hi)))


def field_value(rng):
    # OWS around a value is not part of it (RFC 9110 5.5): the first and last characters are visible.
    inner = "".join(rng.choice(VALUE_CHARS) for _ in range(rng.randint(0, 30)))
    return rng.choice(VALUE_CHARS[:-2]) + (inner + rng.choice(VALUE_CHARS[:-2]) if inner else "")


def random_fields(rng, fields, avoid=()):
    """Appends random fields to `fields` (a list of (name, value) already in the head): end-to-end
    ones, hop-by-hop ones, and ones a Connection field names. Returns the end-to-end fields a proxy
    must forward, `fields`' own first, in order. Now and then a head gets many fields, half of them
    named by Connection. Names never start with one of `avoid`."""
    end_to_end = list(fields)
    named = []
    many = rng.random() < 0.1
    end_to_end_share, named_share = (0.4, 0.5) if many else (0.6, 0.2)
    for _ in range(rng.randint(40, 80) if many else rng.randint(0, 8)):
        roll = rng.random()
        if roll < end_to_end_share:
            name = "X-R" + token(rng)
            while name.lower().startswith(avoid):
                name = "X-R" + token(rng)
            fields.append((name, field_value(rng)))
            end_to_end.append(fields[-1])
        elif roll < 1 - named_share:
            fields.append((rng.choice(CONNECTION_HOP), field_value(rng)))
        else:
            name = "X-Hop-" + token(rng, 1, 6)
            named.append(name.lower())
            fields.append((name, field_value(rng)))
    if named or rng.random() < 0.3:
        tokens = named + ["keep-alive"] * rng.randint(0, 1)
        rng.shuffle(tokens)
        fields.insert(rng.randint(1, len(fields)), ("Connection", ", ".join(tokens) or "keep-alive"))
    return end_to_end


def random_body(rng) -> bytes:
    size = rng.choice([0, 1, rng.randint(2, 200), rng.randint(200, 5000), rng.randint(40_000, 120_000)])
    return rng.randbytes(size)


def chunked_payload(rng, body: bytes) -> bytes:
    """`body` in chunks of random sizes, sometimes with a chunk extension or a trailer section."""
    payload = chunked(body, [rng.randint(1, max(1, len(body) // 3 + 1)) for _ in range(4)])
    if rng.random() < 0.3:
        payload = payload.replace(b"\r\n", b";ext=1\r\n", 1)
    if rng.random() < 0.3:
        # One to three trailer fields, a value sometimes empty, with or without OWS around it.
        trailers = "".join(f"X-{token(rng)}:{rng.choice(['', ' ', '  ', chr(9)])}"
                           f"{rng.choice(['', field_value(rng)])}{rng.choice(['', ' ', chr(9)])}\r\n"
                           for _ in range(rng.randint(1, 3)))
        payload = payload[:-2] + trailers.encode("latin-1") + b"\r\n"
    return payload


def head_bytes(start_line: str, fields) -> bytes:
    return (start_line + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields) + "\r\n").encode("latin-1")


def mutate(data: bytes, rng) -> bytes:
    """One to three random damages: a byte changed, inserted or duplicated, a run dropped, the
    bytes cut short, a line ending broken, or a framing field inserted."""
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
            out[at:at] = out[at:at + rng.randint(1, 40)]
        elif kind == 4:
            del out[at:]
        elif kind == 5:
            # The LF of one CRLF replaced by another byte.
            ends = [m.start() + 1 for m in re.finditer(b"\r\n", out)]
            if ends:
                out[rng.choice(ends)] = rng.choice(b"\rXx0 \t;:")
        else:
            out[at:at] = rng.choice([b"Content-Length: 7\r\n", b"Transfer-Encoding: chunked\r\n",
                                     b"Connection: close\r\n", b"Expect: 100-continue\r\n",
                                     b"Upgrade: websocket\r\n", b"Host: other\r\n"])
    return bytes(out)


def send_in_pieces(conn, data: bytes, rng):
    """Sends `data` in up to seven writes, cut at random places."""
    cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(0, 6)))) if len(data) > 1 else []
    start = 0
    for cut in cuts + [len(data)]:
        conn.send(data[start:cut])
        start = cut


def responses_until_close(conn, what):
    """Every response on `conn` (a rawhttp.RawConn) until the peer closes, each checked to be a
    whole, well-formed HTTP/1.1 response (no request was HEAD). Interim ones count on their own: a
    100 Continue may be the last, when the request's body never came whole."""
    responses = []
    while conn.buf or conn._fill():
        try:
            resp = conn.read_response(method="GET", interim=False)
        except (Closed, Incomplete) as exc:
            raise AssertionError(f"{what}: a response was cut off: {exc}") from None
        assert resp.version == "HTTP/1.1" and 100 <= resp.status <= 599, (what, resp)
        responses.append(resp)
    return responses
