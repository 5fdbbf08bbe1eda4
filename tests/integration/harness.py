"""Processes and backends for the integration tests: the switchboard binary under test, an nginx
with N numbered server blocks, a raw HTTP/1.1 echo backend with misbehaviour modes, a WebSocket echo
server, and the polling helpers every test synchronises with (never a bare sleep)."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import os
import re
import select
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.parse
from pathlib import Path

from rawhttp import request

REPO = Path(__file__).resolve().parents[2]
LISTEN_RE = re.compile(r"proxy listening on http://([0-9.]+):(\d+)")
ADMIN_LISTEN_RE = re.compile(r"admin listening on http://([0-9.]+):(\d+)")


def switchboard_bin() -> str:
    return os.environ.get("SWITCHBOARD_BIN", str(REPO / "build" / "release" / "switchboard"))


_sanitized = {}


def binary_is_sanitized() -> bool:
    """True for an ASan/UBSan build, whose memory figures (shadow memory, quarantine) say nothing
    about the proxy's own buffering."""
    path = switchboard_bin()
    if path not in _sanitized:
        try:
            with open(path, "rb") as f:
                data = f.read()
            _sanitized[path] = b"__asan_init" in data or b"__ubsan_handle" in data
        except OSError:
            _sanitized[path] = False
    return _sanitized[path]


# --------------------------------------------------------------------------------------------
# Polling


class WaitTimeout(AssertionError):
    pass


class Abort(AssertionError):
    """Raised by a wait_until predicate when waiting longer cannot help (the process died)."""


def wait_until(predicate, timeout=5.0, interval=0.01, message=None):
    """Calls `predicate` until it returns something truthy and returns that value; fails the test
    when `timeout` seconds pass first. Exceptions from the predicate count as "not yet"."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except Abort:
            raise
        except Exception as exc:  # noqa: BLE001 - "not yet" for polling purposes
            last_exc = exc
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", "condition")
            extra = f" (last error: {last_exc!r})" if last_exc else ""
            raise WaitTimeout(f"timed out after {timeout}s waiting for {what}{extra}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Ports


def free_port() -> int:
    """A port that was free a moment ago (for programs that cannot bind port 0 and report it, i.e.
    nginx). Callers retry on a bind clash."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RefusingPort:
    """A loopback port bound but not listening: connections to it are refused (RST), and no other
    process can take the port while this object lives."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"

    def close(self):
        self.sock.close()


class BlackholePort:
    """A listener whose accept queue is full, so further SYNs are dropped and connect() hangs:
    an upstream that never completes the TCP handshake."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self.fillers = []
        # Fill the accept queue (backlog 0 admits one or two); stop when a connect stalls.
        for _ in range(8):
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(False)
            err = c.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(c)
            if err not in (0, 115):  # EINPROGRESS
                break
            _, w, _ = select.select([], [c], [], 0.2)
            if not w:
                break  # this one is stuck in SYN_SENT: the queue is full

    def close(self):
        for c in self.fillers:
            c.close()
        self.sock.close()


def serve_in_threads(serve):
    """A listening loopback socket whose connections are each served by serve(sock) on a thread of
    their own, until the socket is closed. Returns the socket and its "127.0.0.1:port"."""
    lsock = socket.create_server(("127.0.0.1", 0), backlog=256)

    def accept():
        while True:
            try:
                sock, _ = lsock.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(sock,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return lsock, f"127.0.0.1:{lsock.getsockname()[1]}"


def heads_received(sock):
    """Yields each request head (without its blank line) that a raw backend reads on `sock`, for
    requests without bodies, until the peer closes or resets (as the proxy does to a connection
    whose response it refused while the backend was still writing)."""
    buffered = b""
    while True:
        while b"\r\n\r\n" not in buffered:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return
            if not data:
                return
            buffered += data
        head, buffered = buffered.split(b"\r\n\r\n", 1)
        yield head


def connect_refused(port: int) -> bool:
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=1)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    s.close()
    return False


# --------------------------------------------------------------------------------------------
# YAML (the subset configs need; strings are JSON-quoted, which YAML reads as double-quoted)


def to_yaml(obj, indent=0) -> str:
    pad = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        out = []
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append(f"{pad}{k}:\n{to_yaml(v, indent + 1)}")
            else:
                out.append(f"{pad}{k}: {_scalar(v)}\n")
        return "".join(out)
    if isinstance(obj, list):
        if not obj:
            return pad + "[]\n"
        out = []
        for v in obj:
            if isinstance(v, dict) and v:
                body = to_yaml(v, indent + 1)
                out.append(f"{pad}- {body.lstrip()}")
            elif isinstance(v, list) and v:
                out.append(f"{pad}-\n{to_yaml(v, indent + 1)}")
            else:
                out.append(f"{pad}- {_scalar(v)}\n")
        return "".join(out)
    return pad + _scalar(obj) + "\n"


def _scalar(v) -> str:
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, dict):
        return "{}"
    if isinstance(v, list):
        return "[]"
    return json.dumps(str(v))


def service(name, addrs, weights=None, balance=None):
    """A services[] entry from "host:port" strings."""
    instances = []
    for i, a in enumerate(addrs):
        host, port = a.rsplit(":", 1)
        inst = {"address": host, "port": int(port)}
        if weights:
            inst["weight"] = weights[i]
        instances.append(inst)
    s = {"name": name, "instances": instances}
    if balance:
        s["balance"] = balance
    return s


def make_config(services, routes=None, threads=1, **sections):
    """A whole config dict: `services` is a list of service() entries; without `routes` every path
    goes to the first service. Extra keyword sections (timeouts, limits, ...) are copied as given."""
    cfg = {"threads": threads, "services": services}
    if routes is None:  # a config for the registry alone may have no services
        routes = [{"path_prefix": "/", "service": services[0]["name"]}] if services else []
    cfg["routes"] = routes
    cfg.update(sections)
    # A short drain keeps teardown quick when a test leaves a request stuck in the proxy.
    cfg["timeouts"] = {"drain": "2s", **(cfg.get("timeouts") or {})}
    return cfg


# --------------------------------------------------------------------------------------------
# The binary under test


class Switchboard:
    """One `switchboard serve` process. stdout (the access log by default) and stderr go to files in
    the test's own directory, so nothing blocks on a full pipe."""

    def __init__(self, workdir: Path, args=(), config=None, listen="127.0.0.1:0", env=None,
                 admin="127.0.0.1:0", data_dir=None):
        """`admin`: the --admin-listen value (an ephemeral port by default, so tests run in
        parallel; None leaves the flag out). The registry lives in `data_dir`, by default
        <workdir>/data."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        binary = switchboard_bin()
        if not os.access(binary, os.X_OK):
            raise AssertionError(f"switchboard binary not found at {binary} (set SWITCHBOARD_BIN)")
        argv = [binary, "serve"]
        if config is not None:
            self.config_path = self.workdir / "switchboard.yaml"
            self.config_path.write_text(config if isinstance(config, str) else to_yaml(config))
            argv += ["--config", str(self.config_path)]
        if listen is not None:
            argv += ["--listen", listen]
        self.data_dir = Path(data_dir) if data_dir is not None else self.workdir / "data"
        if admin is not None:
            argv += ["--admin-listen", admin]
            if admin != "off":
                argv += ["--data-dir", str(self.data_dir)]
        argv += list(args)
        self.argv = argv
        self.stdout_path = self.workdir / "stdout.log"
        self.stderr_path = self.workdir / "stderr.log"
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, env=env, cwd=self.workdir)
        self.pid = self.proc.pid
        self.host = None
        self.port = None
        self.admin_port = None
        self.returncode = None

    def wait_listening(self, timeout=10.0):
        def listening():
            m = LISTEN_RE.search(self.stderr())
            if m:
                return m
            if self.proc.poll() is not None:
                raise Abort(f"switchboard exited with {self.proc.returncode} before listening:\n{self.stderr()}")
            return None

        try:
            m = wait_until(listening, timeout, message="the 'listening on' line")
        except WaitTimeout:
            raise AssertionError(f"switchboard did not report listening:\n{self.stderr()}") from None
        except AssertionError:
            self._close_files()
            raise
        self.host, self.port = m.group(1), int(m.group(2))
        admin = ADMIN_LISTEN_RE.search(self.stderr())
        if admin:
            self.admin_port = int(admin.group(2))
        return self

    @property
    def admin_url(self) -> str:
        assert self.admin_port is not None, "switchboard runs without its admin listener"
        return f"http://127.0.0.1:{self.admin_port}"

    def wait_connectable(self, port, timeout=10.0):
        """For runs whose log level hides the listening line: poll the port we told it to use."""
        def up():
            if self.proc.poll() is not None:
                raise Abort(f"switchboard exited with {self.proc.returncode}:\n{self.stderr()}")
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True

        wait_until(up, timeout, message=f"switchboard accepting on port {port}")
        self.host, self.port = "127.0.0.1", port
        return self

    # -- output

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stdout_lines(self):
        return [line for line in self.stdout().splitlines() if line.strip()]

    def access_log(self):
        """stdout lines parsed as JSON (lines that are not JSON are skipped)."""
        out = []
        for line in self.stdout_lines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    # -- /proc

    def proc_status(self) -> dict:
        fields = {}
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                fields[k] = v.strip()
        return fields

    def rss_kib(self) -> int:
        return int(self.proc_status()["VmRSS"].split()[0])

    def hwm_kib(self) -> int:
        return int(self.proc_status()["VmHWM"].split()[0])

    def alive(self) -> bool:
        return self.proc.poll() is None

    # -- stop

    def send_signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout=15.0) -> int:
        """Signals and waits; kills with SIGKILL after `timeout` and fails."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._close_files()
                raise AssertionError(f"switchboard did not exit within {timeout}s of signal {sig}")
        self.returncode = self.proc.returncode
        self._close_files()
        return self.returncode

    def _close_files(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()


class AdminApi:
    """Calls to a switchboard's admin API (/v1 registry routes) over one keep-alive connection.
    call() returns (status, headers, parsed JSON body or None)."""

    def __init__(self, port: int, timeout=10.0):
        self.port = port
        self.timeout = timeout
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def call(self, method, path, body=None, headers=None, timeout=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        conn = self.conn
        if timeout is not None:  # a blocking query: its own connection with its own timeout
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
        except (ConnectionError, http.client.HTTPException):
            conn.close()
            raise
        finally:
            if conn is not self.conn:
                conn.close()
        try:
            parsed = json.loads(data) if data.strip() else None
        except ValueError:
            parsed = None
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed

    def register(self, service, id, address, port, **fields):
        return self.call("PUT", f"/v1/services/{service}/instances/{id}",
                         {"address": address, "port": port, **fields})

    def instances(self, service):
        status, _, body = self.call("GET", f"/v1/services/{service}")
        return {i["id"]: i for i in body["instances"]} if status == 200 else {}

    def close(self):
        self.conn.close()


def run_switchboard(args, timeout=5.0, cwd=None):
    """Runs the binary to completion (for bad-flag / bad-config checks). A process still running at
    `timeout` (it accepted what it should have refused) is killed and reported with returncode None."""
    proc = subprocess.Popen([switchboard_bin(), *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=cwd, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        rc = None
    return subprocess.CompletedProcess(proc.args, rc, out, err)


def refused_service_setting(tmp_path, settings: str) -> str:
    """Starts switchboard with one service carrying `settings` (YAML lines at the service's
    indentation, e.g. "max_conns: -1"), expects it to refuse the config, and returns stderr."""
    conf = Path(tmp_path) / "refused.yaml"
    conf.write_text("services:\n  - name: web\n    instances: [\"127.0.0.1:9\"]\n    "
                    + settings.replace("\n", "\n    ") + "\n")
    result = run_switchboard(["serve", "--config", str(conf)])
    assert result.returncode not in (0, None), (settings, result.stderr)
    return result.stderr


# --------------------------------------------------------------------------------------------
# nginx backends


NGINX_CONF = """\
{user}
worker_processes 1;
daemon off;
master_process on;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    keepalive_timeout 75s;
    keepalive_requests 100000;
    sendfile on;
    etag on;
    default_type text/plain;
{servers}
}}
"""

NGINX_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        server_name _;
        root {dir}/www;
        add_header X-Backend backend-{i} always;
        add_header X-Conn $connection always;
        add_header X-Conn-Requests $connection_requests always;
        location = /204 {{ return 204; }}
        location = /404 {{ return 404 "not here backend-{i}\\n"; }}
        location = /500 {{ return 500 "broken backend-{i}\\n"; }}
        location /files/ {{ }}
        location = /headers {{
            return 200 "host=$http_host|xff=$http_x_forwarded_for|proto=$http_x_forwarded_proto|real=$http_x_real_ip|uri=$request_uri\\n";
        }}
        location / {{ return 200 "backend-{i}\\n"; }}
    }}
"""


class NginxBackends:
    """One nginx process with `n` server blocks on their own loopback ports. Server i answers
    `backend-i\\n` on any path with headers X-Backend: backend-i, X-Conn ($connection) and
    X-Conn-Requests; /204, /404, /500, /headers and static files under /files/ (from self.files)."""

    def __init__(self, workdir: Path, n: int, ports=None):
        """`ports`: listen on these (a backend restarted where it was) instead of free ones."""
        self.dir = Path(workdir)
        (self.dir / "www" / "files").mkdir(parents=True, exist_ok=True)
        self.files = self.dir / "www" / "files"
        self.n = n
        self.proc = None
        last_err = ""
        for _attempt in range(10):
            self.ports = list(ports) if ports else self._distinct_free_ports(n)
            self._write_conf()
            self.proc = subprocess.Popen(
                ["nginx", "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=open(self.dir / "nginx.stderr", "wb"))
            try:
                wait_until(self._all_listening, 10, message="nginx listening")
                break
            except AssertionError:
                last_err = (self.dir / "nginx.stderr").read_text(errors="replace")
                self._kill()
                if ports or "Address already in use" not in last_err:
                    raise AssertionError(f"nginx failed to start:\n{last_err}") from None
        else:
            raise AssertionError(f"nginx could not bind ports:\n{last_err}")
        self.addrs = [f"127.0.0.1:{p}" for p in self.ports]

    @staticmethod
    def _distinct_free_ports(n):
        socks = []
        try:
            for _ in range(n):
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                socks.append(s)
            return [s.getsockname()[1] for s in socks]
        finally:
            for s in socks:
                s.close()

    def _write_conf(self):
        servers = "".join(NGINX_SERVER.format(port=p, i=i, dir=self.dir) for i, p in enumerate(self.ports))
        user = "user root root;" if os.geteuid() == 0 else ""
        (self.dir / "nginx.conf").write_text(NGINX_CONF.format(dir=self.dir, servers=servers, user=user))

    def _all_listening(self):
        if self.proc.poll() is not None:
            raise Abort("nginx exited")
        for p in self.ports:
            try:
                socket.create_connection(("127.0.0.1", p), timeout=0.5).close()
            except OSError:
                return False
        return True

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        self._kill()

    def kill_hard(self):
        """SIGKILL the master and its workers at once: a backend that dies, not one that shuts
        down (open connections are cut, nothing is finished)."""
        pids = [self.proc.pid]
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text()
            pids += [int(p) for p in children.split()]
        except OSError:
            pass
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()


# --------------------------------------------------------------------------------------------
# Raw HTTP/1.1 echo backend


def pattern_bytes(n: int) -> bytes:
    """Deterministic non-trivial content of length n."""
    unit = bytes(range(256)) * 16  # 4 KiB
    reps, rest = divmod(n, len(unit))
    return unit * reps + unit[:rest]


class _Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self, size=65536) -> bool:
        data = self.sock.recv(size)
        if not data:
            return False
        self.buf += data
        return True

    def read_head(self, limit=1 << 20):
        """Returns the head bytes (without the blank line) or None on EOF before a whole head."""
        while True:
            i = self.buf.find(b"\r\n\r\n")
            if i >= 0:
                head = bytes(self.buf[:i])
                del self.buf[: i + 4]
                return head
            if len(self.buf) > limit or not self._fill():
                return None

    def readline(self) -> bytes:
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[: i + 2]
                return line
            if not self._fill():
                raise EOFError("eof in line")

    def stream(self, n: int, sink):
        """Passes exactly n bytes to sink(memoryview) without keeping them."""
        if self.buf:
            take = min(n, len(self.buf))
            sink(memoryview(self.buf)[:take])
            del self.buf[:take]
            n -= take
        if n == 0:
            return
        scratch = bytearray(1 << 20)
        view = memoryview(scratch)
        while n > 0:
            got = self.sock.recv_into(view[: min(n, len(scratch))])
            if got == 0:
                raise EOFError("eof in body")
            sink(view[:got])
            n -= got


class EchoRequest:
    """What the echo backend saw of one request."""

    def __init__(self, conn_id, conn_requests, method, target, version, headers):
        self.conn_id = conn_id
        self.conn_requests = conn_requests
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers  # list of (name, value) as received
        self.body_len = 0
        self.body_sha256 = None
        self.chunked = False
        self.trailers = []
        self.complete = False

    def header_values(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def to_json(self):
        return {
            "conn": self.conn_id, "conn_requests": self.conn_requests, "method": self.method,
            "target": self.target, "version": self.version, "headers": self.headers,
            "body_len": self.body_len, "body_sha256": self.body_sha256, "chunked": self.chunked,
            "trailers": self.trailers,
        }


class EchoBackend:
    """A threaded raw HTTP/1.1 server. Every request is recorded (self.requests, self.heads counts
    heads even of requests whose body never completed). What it answers is chosen by query
    parameters on the request target, overriding `defaults`:

      mode=echo (default)  200 with a JSON description of the request (headers, body length+sha256)
      mode=garbage         a non-HTTP line, then close
      mode=close           200 without Content-Length/chunked, `size` bytes, then close
      mode=reset           RST before any response byte
      mode=resetmid        head with Content-Length: size and half the body, then RST
      mode=hang            read the request, never answer (until the peer closes)
      hints=N              N `103 Early Hints` interim responses before the final one
      delay_ms=N           wait N ms before answering (a slow backend)
      status=N             final status (204/304 carry no body; 304 still says Content-Length)
      size=N               body: N pattern bytes instead of the JSON description
      chunked=1            answer with Transfer-Encoding: chunked (several chunks + a trailer)
      hop=1                add hop-by-hop response headers (Connection: X-Resp-Hop, Keep-Alive, ...)
      connclose=1          answer with Connection: close (and close)
      closeafter=1         close the connection right after the response, without announcing it
      junk=1               bytes right behind the response body, in the same write (broken framing)
      junk=late            the same bytes in a second write after the response (self.junk_sent counts)
      pause_ms=N           send the head with the first half of the body (the first chunk when
                           chunked), wait N ms, then the rest

    A request carrying `Expect: 100-continue` gets `100 Continue` before its body is read.
    """

    def __init__(self, name="echo", defaults=None):
        self.name = name
        self.defaults = dict(defaults or {})
        self.lock = threading.Lock()
        self.requests: list[EchoRequest] = []
        self.heads = 0
        self.connections = 0
        self.continues_sent = 0
        self.junk_sent = 0
        self._socks = set()
        self._stopping = False
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1024)
        self.port = self.lsock.getsockname()[1]
        self.addr = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept_loop, daemon=True, name=f"echo-{self.port}")
        self._thread.start()

    # -- observation helpers

    def completed(self):
        with self.lock:
            return [r for r in self.requests if r.complete]

    def last(self):
        with self.lock:
            return self.requests[-1] if self.requests else None

    def head_count(self):
        with self.lock:
            return self.heads

    # -- server

    def _accept_loop(self):
        while True:
            try:
                sock, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                if self._stopping:
                    sock.close()
                    return
                self.connections += 1
                conn_id = self.connections
                self._socks.add(sock)
            threading.Thread(target=self._serve, args=(sock, conn_id), daemon=True).start()

    def stop(self):
        with self.lock:
            self._stopping = True
            socks = list(self._socks)
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._thread.join(5)

    def _serve(self, sock, conn_id):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        reader = _Reader(sock)
        n = 0
        try:
            while True:
                head = reader.read_head()
                if head is None:
                    return
                n += 1
                keep = self._one(sock, reader, head, conn_id, n)
                if not keep:
                    return
        except (OSError, EOFError, ValueError):
            return
        finally:
            with self.lock:
                self._socks.discard(sock)
            try:
                sock.close()
            except OSError:
                pass

    def _one(self, sock, reader, head, conn_id, n) -> bool:
        lines = head.split(b"\r\n")
        method, target, version = lines[0].decode("latin-1").split(" ", 2)
        headers = []
        for raw in lines[1:]:
            k, _, v = raw.decode("latin-1").partition(":")
            headers.append((k, v.strip()))
        req = EchoRequest(conn_id, n, method, target, version, headers)
        with self.lock:
            self.heads += 1
            self.requests.append(req)
        hmap = {}
        for k, v in headers:
            hmap.setdefault(k.lower(), []).append(v)
        q = dict(self.defaults)
        q.update({k: v[-1] for k, v in urllib.parse.parse_qs(urllib.parse.urlsplit(target).query).items()})
        mode = q.get("mode", "echo")

        if any(v.lower() == "100-continue" for v in hmap.get("expect", [])):
            sock.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            with self.lock:
                self.continues_sent += 1

        # Body.
        h = hashlib.sha256()
        te = ",".join(hmap.get("transfer-encoding", [])).lower()

        def sink(mv):
            h.update(mv)
            req.body_len += len(mv)

        if "chunked" in te:
            req.chunked = True
            while True:
                size_line = reader.readline()
                size = int(size_line.split(b";", 1)[0].strip(), 16)
                if size == 0:
                    while True:
                        t = reader.readline()
                        if not t:
                            break
                        req.trailers.append(t.decode("latin-1"))
                    break
                reader.stream(size, sink)
                if reader.readline() != b"":
                    raise ValueError("bad chunk end")
        elif "content-length" in hmap:
            reader.stream(int(hmap["content-length"][0]), sink)
        req.body_sha256 = h.hexdigest()
        req.complete = True

        conn_hdr = ",".join(hmap.get("connection", [])).lower()
        keep = "close" not in conn_hdr and (version == "HTTP/1.1" or "keep-alive" in conn_hdr)

        if mode == "garbage":
            sock.sendall(b"THIS IS NOT HTTP AT ALL\r\n\r\n")
            return False
        if mode == "reset":
            _rst_close(sock)
            return False
        if mode == "hang":
            while sock.recv(65536):
                pass
            return False

        delay = int(q.get("delay_ms", "0"))
        if delay:
            time.sleep(delay / 1000.0)
        for _ in range(int(q.get("hints", "0"))):
            sock.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n")

        status = int(q.get("status", "200"))
        if "size" in q:
            body = pattern_bytes(int(q["size"]))
            ctype = "application/octet-stream"
        else:
            body = json.dumps(req.to_json()).encode()
            ctype = "application/json"
        reason = {200: "OK", 204: "No Content", 304: "Not Modified", 404: "Not Found", 500: "Internal Server Error",
                  503: "Service Unavailable"}.get(status, "Status")
        extra = [f"X-Backend: {self.name}", f"X-Conn: {conn_id}", f"X-Conn-Requests: {n}", f"Content-Type: {ctype}"]
        if q.get("hop") == "1":
            extra += ["Connection: keep-alive, X-Resp-Hop", "X-Resp-Hop: secret", "Keep-Alive: timeout=5, max=7",
                      "Proxy-Connection: keep-alive", "X-End-To-End: kept"]

        if mode == "close":
            sock.sendall((f"HTTP/1.1 {status} {reason}\r\n" + "\r\n".join(extra + ["Connection: close"])
                          + "\r\n\r\n").encode() + (body if method != "HEAD" else b""))
            sock.shutdown(socket.SHUT_WR)
            return False
        if mode == "resetmid":
            sock.sendall(("HTTP/1.1 200 OK\r\n" + "\r\n".join(extra + [f"Content-Length: {len(body)}"])
                          + "\r\n\r\n").encode() + body[: len(body) // 2])
            _rst_close(sock)
            return False

        no_body = method == "HEAD" or status in (204, 304) or status < 200
        pause = int(q.get("pause_ms", "0"))
        if q.get("connclose") == "1":
            keep = False
        if q.get("chunked") == "1":
            hdrs = extra + ["Transfer-Encoding: chunked"]
            out = (f"HTTP/1.1 {status} {reason}\r\n" + "\r\n".join(hdrs) + "\r\n\r\n").encode()
            rest = b""
            if not no_body:
                step = max(1, len(body) // 5 + 1)
                for i in range(0, len(body), step):
                    part = body[i:i + step]
                    chunk = f"{len(part):x}\r\n".encode() + part + b"\r\n"
                    if i == 0 or not pause:
                        out += chunk
                    else:
                        rest += chunk
                rest += b"0\r\nX-Trailer: done\r\n\r\n"
            sock.sendall(out)
            if pause:
                time.sleep(pause / 1000.0)
            sock.sendall(rest)
        else:
            hdrs = list(extra)
            if status != 204:
                hdrs.append(f"Content-Length: {len(body)}")
            if not keep:
                hdrs.append("Connection: close")
            out = (f"HTTP/1.1 {status} {reason}\r\n" + "\r\n".join(hdrs) + "\r\n\r\n").encode()
            payload = b"" if no_body else body
            if pause:
                sock.sendall(out + payload[: len(payload) // 2])
                time.sleep(pause / 1000.0)
                out, payload = b"", payload[len(payload) // 2:]
            # junk=1: bytes right behind the response, in the same write.
            sock.sendall(out + payload + (JUNK if q.get("junk") == "1" else b""))
        if q.get("junk") == "late":
            sock.sendall(JUNK)
            with self.lock:
                self.junk_sent += 1
        if q.get("closeafter") == "1":
            sock.shutdown(socket.SHUT_WR)
            return False
        return keep


JUNK = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Smuggled: yes\r\n\r\nJUNK!"


def _rst_close(sock):
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# --------------------------------------------------------------------------------------------
# WebSocket echo backend (python3-websockets, asyncio in its own thread)


class WsConnection:
    def __init__(self, path, headers):
        self.path = path
        self.headers = headers
        self.closed = threading.Event()
        self.close_code = None
        self.received = 0


class WsBackend:
    """A websockets server. Paths: /echo (echo every message), /push?n=N (send N messages first,
    then echo), /close?code=C (close with code C after the first message)."""

    def __init__(self):
        import websockets  # noqa: F401 - fail early if the package is missing

        self.connections: list[WsConnection] = []
        self.lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop = None
        self._thread = threading.Thread(target=self._run, daemon=True, name="ws-backend")
        self._thread.start()
        if not self._started.wait(10):
            raise AssertionError("websocket backend did not start")
        self.addr = f"127.0.0.1:{self.port}"

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self):
        import websockets

        self._stop = asyncio.get_running_loop().create_future()
        async with websockets.serve(self._handler, "127.0.0.1", 0, max_size=None, ping_interval=None) as server:
            self.port = server.sockets[0].getsockname()[1]
            self._started.set()
            await self._stop

    async def _handler(self, ws):
        import websockets

        rec = WsConnection(ws.path, list(ws.request_headers.raw_items()))
        with self.lock:
            self.connections.append(rec)
        url = urllib.parse.urlsplit(ws.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        try:
            if url.path == "/push":
                for i in range(int(q.get("n", "1"))):
                    await ws.send(f"push-{i}")
            async for msg in ws:
                rec.received += 1
                if url.path == "/close":
                    await ws.close(int(q.get("code", "4000")), "bye")
                    break
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            try:
                await ws.wait_closed()
            except Exception:  # noqa: BLE001
                pass
            rec.close_code = ws.close_code
            rec.closed.set()

    def stop(self):
        if not self._thread.is_alive():
            return
        if self._stop is not None:
            self.loop.call_soon_threadsafe(lambda: self._stop.done() or self._stop.set_result(None))
        self._thread.join(10)


def lb_status(port) -> dict:
    """The proxy's /lb-status, as JSON."""
    return json.loads(request(port, path="/lb-status?format=json").body)


def proxy_for(switchboard, addrs, name="app", args=(), threads=1, **sections):
    """Starts switchboard with one service over `addrs` (strings "host:port") taking every path."""
    return switchboard(args=args, config=make_config([service(name, list(addrs))], threads=threads, **sections))


def short_body(resp, limit=1024) -> bool:
    """Errors the proxy makes itself carry a short, non-empty body."""
    return 0 < len(resp.body) <= limit
