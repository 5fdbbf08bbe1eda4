"""GET /metrics on the admin listener: Prometheus text format that `promtool check metrics`
accepts, with values that follow a known number of requests (responses, bytes to and from each
instance to the byte, requests in flight, upstream connections, ejections, the proxy's own
answers per service), registry counts and process figures."""

import json
import os
import re
import subprocess
import threading
import urllib.request

from harness import AdminApi, make_config, serve_in_threads, service, wait_until
from rawhttp import RawConn, concurrent_requests, request


def scrape(sb):
    with urllib.request.urlopen(f"{sb.admin_url}/metrics", timeout=10) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return resp.read().decode()


def value(text, name, **labels):
    """The sample `name{labels}` (labels in any order, all given must match), as a float."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)", line)
        assert m, f"not a sample line: {line!r}"
        if m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    raise AssertionError(f"no sample {name} {labels}")


def promtool_accepts(text):
    check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr


class CountingBackend:
    """A keep-alive HTTP/1.1 backend that counts every byte it reads and writes, so a test can
    hold the proxy's byte counters to them exactly. Bodies by Content-Length; every answer is
    200 with `body`."""

    def __init__(self, body=b"counted\n"):
        self.body = body
        self.lock = threading.Lock()
        self.received = 0
        self.sent = 0
        self.requests = 0
        self.connections = 0
        self.lsock, self.addr = serve_in_threads(self._serve)

    def _recv(self, sock):
        data = sock.recv(65536)
        with self.lock:
            self.received += len(data)
        return data

    def _serve(self, sock):
        with self.lock:
            self.connections += 1
        buf = b""
        with sock:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = self._recv(sock)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buf) < length:
                    data = self._recv(sock)
                    if not data:
                        return
                    buf += data
                buf = buf[length:]
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.body) + self.body
                sock.sendall(answer)
                with self.lock:
                    self.sent += len(answer)
                    self.requests += 1

    def stop(self):
        self.lsock.close()


def test_metrics_pass_promtool_and_count_requests(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    sb = switchboard(config=make_config([service("web", nginx.addrs)]))
    for _ in range(10):
        assert request(sb.port).status == 200
    assert request(sb.port, path="/404").status == 404
    api = AdminApi(sb.admin_port)
    host, port = nginx.addrs[0].split(":")
    assert api.register("api", "a1", host, int(port), ttl="30s")[0] in (200, 201)
    assert api.call("PUT", "/v1/services/api/instances/a1/heartbeat")[0] == 200
    api.close()

    text = scrape(sb)
    promtool_accepts(text)

    # 11 proxied requests: 10 answered 200 and one 404, round robin over two instances.
    a, b = nginx.addrs
    assert value(text, "switchboard_upstream_requests_total", service="web", instance=a) == 6
    assert value(text, "switchboard_upstream_requests_total", service="web", instance=b) == 5
    assert value(text, "switchboard_upstream_responses_total", service="web", instance=a,
                 code="2xx") + value(text, "switchboard_upstream_responses_total", service="web",
                                     instance=b, code="2xx") == 10
    assert value(text, "switchboard_upstream_responses_total", service="web", instance=b,
                 code="4xx") + value(text, "switchboard_upstream_responses_total", service="web",
                                     instance=a, code="4xx") == 1
    assert value(text, "switchboard_upstream_healthy", service="web", instance=a) == 1
    # Latency histograms: every answered request counted once, in cumulative buckets.
    for name in ("switchboard_upstream_response_seconds", "switchboard_request_duration_seconds"):
        count = sum(value(text, f"{name}_count", service="web", instance=i) for i in (a, b))
        assert count == 11, name
        assert value(text, f"{name}_bucket", service="web", instance=a, le="+Inf") == \
            value(text, f"{name}_count", service="web", instance=a)
        assert value(text, f"{name}_bucket", service="web", instance=a, le="10") == \
            value(text, f"{name}_count", service="web", instance=a)
        assert 0 < value(text, f"{name}_sum", service="web", instance=a) < 5
    assert value(text, "switchboard_requests_total") == 11
    assert value(text, "switchboard_registry_instances", service="api", state="passing") == 1
    assert value(text, "switchboard_registry_instances", service="api", state="critical") == 0
    assert value(text, "switchboard_registry_heartbeats_total") == 1
    assert value(text, "process_resident_memory_bytes") > 1_000_000
    assert value(text, "process_open_fds") > 3


def test_metrics_only_answer_get(switchboard):
    sb = switchboard(config=make_config([]))
    req = urllib.request.Request(f"{sb.admin_url}/metrics", method="POST", data=b"")
    try:
        urllib.request.urlopen(req, timeout=10)
        raise AssertionError("POST /metrics accepted")
    except urllib.error.HTTPError as e:
        assert e.code == 405 and e.headers["Allow"] == "GET"


def test_bytes_active_requests_and_connections_per_instance(switchboard, procs):
    backend = procs.add(CountingBackend())
    sb = switchboard(config=make_config([service("web", [backend.addr])]))
    instance = {"service": "web", "instance": backend.addr}
    with RawConn(sb.port) as conn:
        for i in range(5):
            assert conn.request(path=f"/get/{i}").status == 200
        # A body larger than the proxy's buffer streams to the instance in several writes.
        body = b"x" * 300_000
        assert conn.request("POST", "/upload", body=body).status == 200
        assert conn.request("POST", "/small", body=b"{}").status == 200
    # The backend counts an answer once it is written: the client may have it first.
    wait_until(lambda: backend.requests == 7, 5, message="the backend's count of its answers")
    assert backend.connections == 1

    # The last response reached the client before the proxy gave its connection back to the
    # pool: wait for the rest state, then every figure is exact.
    def at_rest():
        text = scrape(sb)
        if value(text, "switchboard_upstream_connections_idle", **instance) != 1:
            return None
        return text

    text = wait_until(at_rest, 5, message="the upstream connection idle in the pool")
    promtool_accepts(text)
    assert value(text, "switchboard_upstream_sent_bytes_total", **instance) == backend.received
    assert value(text, "switchboard_upstream_received_bytes_total", **instance) == backend.sent
    assert backend.received > 300_000
    assert value(text, "switchboard_upstream_active_requests", **instance) == 0
    assert value(text, "switchboard_upstream_connections_open", **instance) == 1
    assert value(text, "switchboard_service_requests_total", service="web") == 7
    assert value(text, "switchboard_service_local_responses_total", service="web", code="5xx") == 0

    status = json.loads(request(sb.port, path="/lb-status?format=json").body)
    web = next(s for s in status["services"] if s["name"] == "web")
    one = web["instances"][0]
    assert one["sent_bytes"] == backend.received and one["received_bytes"] == backend.sent
    assert one["active"] == 0 and one["connections"] == {"open": 1, "idle": 1}
    assert web["requests"] == 7 and web["local_responses"]["5xx"] == 0


def test_active_requests_count_a_request_in_flight(switchboard, echo_backend):
    """round_robin does not count requests in flight for its picks; /metrics does all the same."""
    slow = echo_backend("slow")
    sb = switchboard(config=make_config([service("web", [slow.addr])]))
    instance = {"service": "web", "instance": slow.addr}
    answer = {}
    thread = threading.Thread(
        target=lambda: answer.update(r=request(sb.port, path="/?delay_ms=1500", timeout=10)))
    thread.start()
    wait_until(lambda: slow.head_count() == 1, 5, message="the slow request at its backend")
    text = scrape(sb)
    assert value(text, "switchboard_upstream_active_requests", **instance) == 1
    assert value(text, "switchboard_upstream_connections_open", **instance) == 1
    assert value(text, "switchboard_upstream_connections_idle", **instance) == 0
    thread.join(10)
    assert answer["r"].status == 200
    wait_until(lambda: value(scrape(sb), "switchboard_upstream_active_requests", **instance) == 0,
               5, message="no request in flight")


def test_the_proxys_own_answers_are_counted_by_class_and_service(switchboard, refusing_port,
                                                                 nginx_backends):
    nginx = nginx_backends(1)
    down = refusing_port()
    sb = switchboard(config=make_config(
        [service("web", nginx.addrs), service("down", [down.addr])],
        routes=[{"path_prefix": "/web", "service": "web"},
                {"path_prefix": "/down", "service": "down"}]))
    for _ in range(3):
        assert request(sb.port, path="/down").status == 502
    assert request(sb.port, path="/nowhere").status == 404  # no route: no service
    assert request(sb.port, path="/web").status == 200
    text = scrape(sb)
    promtool_accepts(text)
    assert value(text, "switchboard_local_responses_total", code="5xx") == 3
    assert value(text, "switchboard_local_responses_total", code="4xx") == 1
    assert value(text, "switchboard_local_responses_total", code="2xx") == 0
    assert value(text, "switchboard_service_local_responses_total", service="down",
                 code="5xx") == 3
    assert value(text, "switchboard_service_local_responses_total", service="web",
                 code="5xx") == 0
    assert value(text, "switchboard_service_requests_total", service="down") == 3
    assert value(text, "switchboard_service_requests_total", service="web") == 1
    assert value(text, "switchboard_upstream_failures_total", service="down",
                 instance=down.addr) == 3
    assert value(text, "switchboard_upstream_connections_open", service="down",
                 instance=down.addr) == 0
    # Built-in endpoints are the proxy's own answers too.
    assert request(sb.port, path="/lb-health").status == 200
    assert value(scrape(sb), "switchboard_local_responses_total", code="2xx") == 1


def test_ejections_are_counted(switchboard, nginx_backends, echo_backend):
    nginx = nginx_backends(1)
    failing = echo_backend("failing", defaults={"status": "500"})
    config = make_config([service("web", [nginx.addrs[0], failing.addr])])
    config["services"][0]["outlier"] = {"consecutive_5xx": 2, "base_ejection_time": "30s"}
    sb = switchboard(config=config)
    # Round robin: the failing instance answers every other request; its second 500 ejects it.
    for _ in range(10):
        if failing.head_count() == 2:
            break
        request(sb.port)
    assert failing.head_count() == 2
    for _ in range(4):
        assert request(sb.port).status == 200  # ejected: no more traffic to it
    text = scrape(sb)
    promtool_accepts(text)
    bad = {"service": "web", "instance": failing.addr}
    good = {"service": "web", "instance": nginx.addrs[0]}
    assert value(text, "switchboard_upstream_ejections_total", **bad) == 1
    assert value(text, "switchboard_upstream_ejection_multiplier", **bad) == 1
    assert value(text, "switchboard_upstream_ejections_total", **good) == 0
    assert value(text, "switchboard_upstream_state", state="ejected", **bad) == 1
    assert failing.head_count() == 2


def sockets_to(pid, port):
    """How many TCP connections process `pid` has established to 127.0.0.1:`port`."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    with open(f"/proc/{pid}/net/tcp") as table:
        next(table)
        for row in table:
            fields = row.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == "01" and inode in inodes and int(remote.split(":")[1], 16) == port:
                count += 1
    return count


def test_connection_gauges_match_the_sockets_the_process_holds(switchboard, nginx_backends):
    nginx = nginx_backends(2)
    sb = switchboard(config=make_config([service("web", nginx.addrs)], threads=2))
    for _ in range(2):
        assert {r.status for r in concurrent_requests(sb.port, 12)} == {200}

    def at_rest():
        text = scrape(sb)
        for addr in nginx.addrs:
            labels = {"service": "web", "instance": addr}
            if value(text, "switchboard_upstream_active_requests", **labels) != 0:
                return None
            if value(text, "switchboard_upstream_connections_open", **labels) != \
                    value(text, "switchboard_upstream_connections_idle", **labels):
                return None
        return text

    text = wait_until(at_rest, 5, message="every upstream connection back in a pool")
    for addr in nginx.addrs:
        labels = {"service": "web", "instance": addr}
        held = sockets_to(sb.pid, int(addr.split(":")[1]))
        assert value(text, "switchboard_upstream_connections_open", **labels) == held > 0, addr
