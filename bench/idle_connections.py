#!/usr/bin/python3
"""Memory per idle keep-alive client connection, for switchboard, nginx and HAProxy.

Each of N client connections sends one complete request (GET /lb-health by default), reads the
whole response and then stays open and silent, the state a keep-alive connection spends most of its
life in. The figure is the growth of the proxy's resident memory (VmRSS, all its processes) divided
by the connections still open, so it counts what the proxy keeps per idle connection in user space
(buffers, session objects, coroutine frames); kernel socket memory is the same for every proxy and
is not in VmRSS. Run through idle_connections.sh, which raises the file-descriptor limit.
"""

import errno
import os
import resource
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

IP_BIND_ADDRESS_NO_PORT = 24  # linux/in.h; lets connect() pick the port for an explicit source IP
PORTS_PER_SOURCE_IP = 25000   # below the default ephemeral range (32768-60999) of one address


class Conn:
    __slots__ = ("sock", "buf", "state", "need")

    def __init__(self, sock):
        self.sock, self.buf, self.state, self.need = sock, b"", "connecting", None


def _response_complete(buf):
    """True once buf holds a whole response with Content-Length or chunked framing."""
    head_end = buf.find(b"\r\n\r\n")
    if head_end < 0:
        return False
    head = buf[:head_end].decode("latin-1").lower()
    body = buf[head_end + 4:]
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip() == "content-length":
            return len(body) >= int(value.strip())
    if "transfer-encoding: chunked" in head:
        return body.endswith(b"0\r\n\r\n")
    return True  # no body framing: a bodiless response such as 204/304


def open_connections(port, count, path, batch, window, deadline):
    """Opens `count` connections and gets one response on each; returns (conns, failures)."""
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    conns, failures = [], {}

    def fail(c, why):
        failures[why] = failures.get(why, 0) + 1
        c.state = "failed"
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    # Connect in batches: a burst of thousands of SYNs would overflow the listen backlog and
    # turn into 1 s SYN retransmits, which only makes the run slow.
    for start in range(0, count, batch):
        pending = 0
        for i in range(start, min(start + batch, count)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            if i >= PORTS_PER_SOURCE_IP:
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((f"127.0.0.{1 + i // PORTS_PER_SOURCE_IP}", 0))
            c = Conn(s)
            conns.append(c)
            rc = s.connect_ex(("127.0.0.1", port))
            if rc not in (0, errno.EINPROGRESS):
                fail(c, os.strerror(rc))
                continue
            sel.register(s, selectors.EVENT_WRITE, c)
            pending += 1
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError("timed out connecting")
            for key, _ in sel.select(timeout=1.0):
                c = key.data
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                pending -= 1
                if err:
                    fail(c, os.strerror(err))
                else:
                    sel.unregister(c.sock)
                    c.state = "connected"

    # One request per connection, `window` outstanding at a time, so that the proxies' upstream
    # pools stay small and the figure is about client connections, not upstream ones.
    todo = [c for c in conns if c.state == "connected"]
    inflight = 0
    while todo or inflight:
        while todo and inflight < window:
            c = todo.pop()
            try:
                c.sock.send(request)
            except OSError as exc:
                fail(c, exc.strerror or str(exc))
                continue
            c.state = "waiting"
            sel.register(c.sock, selectors.EVENT_READ, c)
            inflight += 1
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for responses")
        for key, _ in sel.select(timeout=1.0):
            c = key.data
            try:
                data = c.sock.recv(65536)
            except OSError as exc:
                inflight -= 1
                fail(c, exc.strerror or str(exc))
                continue
            if not data:
                inflight -= 1
                fail(c, "closed before the response was complete")
                continue
            c.buf += data
            if _response_complete(c.buf):
                inflight -= 1
                sel.unregister(c.sock)
                status = c.buf.split(b" ", 2)[1] if c.buf.startswith(b"HTTP/") else b"?"
                c.state = "idle"
                c.buf = b""
                if status != b"200":
                    failures[f"status {status.decode()}"] = failures.get(
                        f"status {status.decode()}", 0) + 1
    sel.close()
    return [c for c in conns if c.state == "idle"], failures


def still_open(conns):
    """Connections the proxy has not closed: an idle socket turns readable only on EOF/reset."""
    sel = selectors.DefaultSelector()
    for c in conns:
        sel.register(c.sock, selectors.EVENT_READ)
    readable = len(sel.select(timeout=0))
    sel.close()
    return len(conns) - readable


def main():
    count = bl.env_int("N", 10000)
    names = bl.env_str("PROXIES", "sb nginx haproxy").replace(",", " ").split()
    path = bl.env_str("REQ_PATH", "/lb-health")
    settle = bl.env_float("SETTLE", 2.0)
    batch = bl.env_int("CONNECT_BATCH", 500)
    window = bl.env_int("REQ_WINDOW", 32)
    proxy_cpu, backend_cpu = bl.env_str("PROXY_CPU", "1"), bl.env_str("BACKEND_CPU", "0")
    here = os.path.dirname(os.path.abspath(__file__))
    results_dir = bl.env_str("RESULTS_DIR", os.path.join(here, "results"))

    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < count + 256:
        sys.exit(f"open-file limit {soft} is too low for N={count}; run idle_connections.sh "
                 "(it raises the limit) or raise `ulimit -n`")

    phase_budget = 60 + count / 100  # seconds; generous, only a bound against hangs
    bl.install_cleanup(max_seconds=60 + len(names) * (2 * phase_budget + settle + 20))
    tmp = bl.make_tempdir("sb-idle-")
    ports = bl.free_ports(3 + len(names))
    backend_ports = ports[:3]
    bl.start_backends(tmp, backend_ports, backend_cpu)

    def started(name, port, capacity):
        """A fresh proxy sized for `capacity` connections, warmed up, settled; None if skipped."""
        proxy = bl.start_proxy(name, tmp, port, backend_ports, proxy_cpu, path, conns=capacity)
        if proxy:
            for _ in range(50):  # touch the request path so lazily built state is in the baseline
                bl.http_get(port, path)
            time.sleep(settle)
            proxy.refresh_pids()
        return proxy

    rows = []
    for name, port in zip(names, ports[3:]):
        # nginx (worker_connections) and HAProxy (maxconn) allocate per-slot tables at startup, so
        # part of their per-connection cost is already in the baseline of a proxy sized for N.
        # A second baseline from the same proxy sized for 256 connections exposes that part.
        small = started(name, port, 256)
        if not small:
            continue
        small_rss = bl.rss_kib(small.pids)
        bl.stop(small.proc)
        # One proxy at a time, freshly started: RSS is not inflated by another test's leftovers.
        proxy = started(name, port, count + 1024)
        if not proxy:
            continue
        before = bl.rss_kib(proxy.pids)
        t0 = time.monotonic()
        conns, failures = open_connections(port, count, path, batch, window,
                                           time.monotonic() + phase_budget)
        opened_s = time.monotonic() - t0
        time.sleep(settle)
        after = bl.rss_kib(proxy.refresh_pids())
        held = still_open(conns)
        per_conn = (after - before) / held if held else None
        with_prealloc = (after - small_rss) / held if held else None
        rows.append((name, count, held, small_rss, before, after, per_conn, with_prealloc,
                     failures))
        bl.log(f"{bl.DISPLAY[name]}: {held}/{count} idle connections held "
               f"(opened in {opened_s:.1f} s), VmRSS {before} -> {after} KiB"
               + (f", {per_conn:.2f} KiB per connection ({with_prealloc:.2f} with the tables "
                  f"sized at startup; VmRSS sized for 256: {small_rss} KiB)"
                  if per_conn is not None else ""))
        if failures:
            bl.log(f"  failures: {failures}")
        for c in conns:
            c.sock.close()
        bl.stop(proxy.proc)

    md = [f"## Memory per idle keep-alive connection ({time.strftime('%Y-%m-%d')})", "",
          f"Machine: {bl.machine_line()}", "",
          f"Method: N={count} client connections, each sends one `GET {path}`, reads the response "
          f"and stays idle; proxy (one worker, CPU {proxy_cpu}) VmRSS summed over its processes, "
          f"measured {settle:g} s after the baseline requests and {settle:g} s after the last "
          "response. Kernel socket memory is not in VmRSS.", "",
          "KiB per idle connection = (after - before) / held; \"incl. startup tables\" uses as "
          "baseline the same proxy sized for 256 connections instead of N + 1024 (nginx "
          "worker_connections and HAProxy maxconn tables are allocated at startup).", "",
          "| proxy | connections held | VmRSS sized for 256, KiB | VmRSS before KiB | "
          "VmRSS after KiB | KiB per idle connection | incl. startup tables | failures |",
          "|---|---:|---:|---:|---:|---:|---:|---|"]
    for name, n, held, small_rss, before, after, per_conn, with_prealloc, failures in rows:
        fails = ", ".join(f"{k}: {v}" for k, v in failures.items()) or "none"
        na = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        md.append(f"| {bl.DISPLAY[name]} | {held}/{n} | {small_rss:,} | {before:,} | {after:,} | "
                  f"{na(per_conn)} | {na(with_prealloc)} | {fails} |")
    bl.publish(md, results_dir, "idle")


if __name__ == "__main__":
    bl.run_main(main)
