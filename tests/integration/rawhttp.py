"""A small HTTP/1.1 client over a raw socket, for tests that need control over the bytes sent
(malformed input, pipelining, Expect) and that look at exactly what came back (interim responses,
framing, whether the connection was closed)."""

from __future__ import annotations

import json
import socket
import threading
import time


class Closed(Exception):
    """The peer closed the connection before a whole response head arrived."""


class Incomplete(Exception):
    """The peer closed (or reset) the connection in the middle of a response body."""

    def __init__(self, response, message):
        super().__init__(message)
        self.response = response


class Response:
    def __init__(self, version, status, reason, headers):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = b""
        self.trailers = []
        self.interim: list[Response] = []
        self.framing = None  # "none" | "length" | "chunked" | "close"

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has(self, name):
        return self.header(name) is not None

    def json(self):
        return json.loads(self.body)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return f"<Response {self.status} {self.reason!r} {self.framing} body={len(self.body)}B>"


def build_request(method="GET", path="/", headers=None, body=None, host="test.local",
                  version="HTTP/1.1") -> bytes:
    """Request bytes; adds Host (unless host is None) and Content-Length for a bytes body unless the
    caller passed its own Content-Length or Transfer-Encoding. `headers` is a list of pairs or a dict."""
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in hdrs}
    if host is not None and "host" not in names:
        hdrs.insert(0, ("Host", host))
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        hdrs.append(("Content-Length", str(len(body))))
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
    return head.encode("latin-1") + (body or b"")


def chunked(body: bytes, sizes=None) -> bytes:
    """`body` in chunked coding (chunk sizes from `sizes`, cycled) with the last-chunk."""
    out = bytearray()
    sizes = sizes or [len(body) or 1]
    i = k = 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        part = body[i:i + n]
        out += f"{len(part):x}\r\n".encode() + part + b"\r\n"
        i += n
        k += 1
    out += b"0\r\n\r\n"
    return bytes(out)


class RawConn:
    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = bytearray()
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes):
        self.sock.sendall(data)

    def request(self, method="GET", path="/", headers=None, body=None, host="test.local", version="HTTP/1.1"):
        self.send(build_request(method, path, headers, body, host, version))
        return self.read_response(method=method)

    # -- reading

    def _fill(self, size=65536) -> bool:
        if self.eof:
            return False
        try:
            data = self.sock.recv(size)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _readline(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            if not self._fill():
                raise EOFError

    def _read_exact(self, n) -> bytes:
        while len(self.buf) < n:
            if not self._fill(max(65536, n - len(self.buf))):
                raise EOFError
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_head(self) -> Response:
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if not self._fill():
                raise Closed(f"connection closed before a response head (got {bytes(self.buf)[:200]!r})")
        head = bytes(self.buf[:i]).decode("latin-1")
        del self.buf[: i + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise AssertionError(f"not an HTTP status line: {lines[0]!r}")
        resp = Response(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "", [])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            resp.headers.append((k, v.strip()))
        return resp

    def read_response(self, method="GET", interim=True) -> Response:
        """The next response. With interim=True, 1xx responses (except 101) are collected into
        .interim of the final response; otherwise a 1xx is returned as it is."""
        collected = []
        while True:
            resp = self.read_head()
            if 100 <= resp.status < 200 and resp.status != 101:
                resp.framing = "none"
                if not interim:
                    return resp
                collected.append(resp)
                continue
            break
        resp.interim = collected
        self._read_body(resp, method)
        return resp

    def _read_body(self, resp, method):
        te = ",".join(resp.header_all("Transfer-Encoding")).lower()
        try:
            if method == "HEAD" or resp.status in (204, 304, 101) or resp.status < 200:
                resp.framing = "none"
            elif "chunked" in te:
                resp.framing = "chunked"
                body = bytearray()
                while True:
                    size = int(self._readline().split(b";", 1)[0].strip(), 16)
                    if size == 0:
                        while True:
                            t = self._readline()
                            if not t:
                                break
                            resp.trailers.append(t.decode("latin-1"))
                        break
                    body += self._read_exact(size)
                    if self._readline() != b"":
                        raise AssertionError("chunk not followed by CRLF")
                resp.body = bytes(body)
            elif resp.has("Content-Length"):
                resp.framing = "length"
                resp.body = self._read_exact(int(resp.header("Content-Length")))
            else:
                resp.framing = "close"
                while self._fill():
                    pass
                resp.body = bytes(self.buf)
                self.buf.clear()
        except EOFError:
            resp.body = bytes(self.buf)
            self.buf.clear()
            raise Incomplete(resp, f"connection closed inside a {resp.framing} body") from None

    def closed_within(self, timeout=3.0) -> bool:
        """True when the peer closes (FIN or RST) within `timeout`; bytes that arrive meanwhile are
        kept in self.buf. False if the connection is still open at the deadline."""
        deadline = time.monotonic() + timeout
        try:
            while not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.sock.settimeout(left)
                try:
                    self._fill()
                except socket.timeout:
                    return False
            return True
        finally:
            self.sock.settimeout(self.timeout)

    def still_open_after(self, seconds) -> bool:
        """The connection is neither closed nor sent anything for `seconds` (a bounded wait that
        asserts absence of an event, not a synchronisation)."""
        return not self.closed_within(seconds) and not self.buf


def nothing_more(conn, seconds=0.3):
    """Asserts that no unsolicited bytes follow a response (the connection may close)."""
    conn.closed_within(seconds)
    assert not conn.buf, f"unsolicited bytes after the response: {bytes(conn.buf)[:200]!r}"


def request(port, method="GET", path="/", headers=None, body=None, host="test.local", version="HTTP/1.1",
            timeout=10.0) -> Response:
    """One request on a fresh connection."""
    with RawConn(port, timeout=timeout) as c:
        return c.request(method, path, headers, body, host, version)


def concurrent_requests(port, n, path="/", timeout=20.0) -> list:
    """`n` requests at once, each on its own connection and thread; their responses, in the order
    they completed."""
    responses = []
    lock = threading.Lock()

    def one():
        resp = request(port, path=path, timeout=timeout)
        with lock:
            responses.append(resp)

    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return responses
