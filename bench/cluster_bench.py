#!/usr/bin/python3
"""Cluster mode benchmarks (issue 6), against a real etcd (Debian's etcd-server 3.4, one member,
its data on disk with fsync as shipped) and two or three `switchboard serve --registry etcd://...`
nodes (`--threads 1`). The switchboards run on PROXY_CPU, etcd, nginx, wrk and this script on
LOAD_CPU: on a 2-core machine etcd shares a core with the load, as a small cluster would.

- propagation: N times, register an instance declaring a new route through node A, then poll node
  B's proxy (keep-alive GETs) until the route answers 200; likewise deregister through A until B
  answers 404. Times from sending the write, and from A's 2xx, to B routing by it.
- heartbeat: HB_INSTANCES instances with a ttl registered through A, then wrk PUTting heartbeats
  cycling through them (HB_CONNECTIONS connections, DURATION s, ROUNDS rounds); heartbeats/s, per
  switchboard CPU-second and per etcd CPU-second, and how many leases each keep-alive call to etcd
  renewed (the batching, from /metrics).
- resync: INSTANCES instances (ttl 1h: two keys each) in etcd, then ROUNDS times: a fresh node
  started (time until its log says it read them, and until it routes one of them), and a running
  node whose path to etcd is cut while etcd compacts its history, so that on reconnecting it must
  read everything afresh (time from restoring the path to routing the change made meanwhile).

Knobs: PARTS (propagation heartbeat resync), N (200), HB_INSTANCES (1000), HB_CONNECTIONS (32),
DURATION (8), ROUNDS (3), INSTANCES (10000), REG_THREADS (16), SB, PROXY_CPU (1), LOAD_CPU (0),
RESULTS_DIR (bench/results).
"""

import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from proxy_compare import fmt  # noqa: E402
from registry_bench import (LUA_THREAD_OFFSET, bulk_register, instance_path, lua_list,  # noqa: E402
                            percentile, run_wrk, write_lua)

ALL_PARTS = ["propagation", "heartbeat", "resync"]
LISTEN_RE = re.compile(r"proxy listening on http://([0-9.]+):(\d+)")
ADMIN_RE = re.compile(r"admin listening on http://([0-9.]+):(\d+)")
READ_RE = re.compile(r"registry: (\d+) instance\(s\) read from etcd at revision (\d+) in (\d+) ms")
EXTRA_LOCATIONS = '        location /p { return 200 "$server_port\\n"; }'


class Config:
    def __init__(self):
        self.parts = bl.env_str("PARTS", " ".join(ALL_PARTS)).replace(",", " ").split()
        for p in self.parts:
            if p not in ALL_PARTS:
                sys.exit(f"unknown part {p!r} in PARTS (want {', '.join(ALL_PARTS)})")
        self.sb = os.path.abspath(bl.env_str("SB", bl.DEFAULT_SB))
        self.n = bl.env_int("N", 200)
        self.hb_instances = bl.env_int("HB_INSTANCES", 1000)
        self.hb_connections = bl.env_int("HB_CONNECTIONS", 32)
        self.duration = bl.env_int("DURATION", 8)
        self.warmup = bl.env_int("WARMUP", 2)
        self.rounds = bl.env_int("ROUNDS", 3)
        self.instances = bl.env_int("INSTANCES", 10000)
        self.reg_threads = bl.env_int("REG_THREADS", 16)
        self.proxy_cpu = bl.env_str("PROXY_CPU", "1")
        self.load_cpu = bl.env_str("LOAD_CPU", "0")
        self.wrk_threads = 1
        here = os.path.dirname(os.path.abspath(__file__))
        self.results_dir = bl.env_str("RESULTS_DIR", os.path.join(here, "results"))


KNOBS = ("PARTS", "N", "HB_INSTANCES", "HB_CONNECTIONS", "DURATION", "WARMUP", "ROUNDS", "INSTANCES",
         "REG_THREADS", "SB", "PROXY_CPU", "LOAD_CPU")


def b64(text):
    return base64.b64encode(text.encode()).decode()


# ---------------------------------------------------------------------------------------------
# etcd and switchboard processes


class Etcd:
    def __init__(self, cfg, tmp):
        self.client_port, peer = bl.free_ports(2)
        self.data = tempfile.mkdtemp(prefix="etcd-", dir=tmp)
        client = f"http://127.0.0.1:{self.client_port}"
        self.proc = bl.spawn(["etcd", "--name", "bench", "--data-dir", self.data,
                              "--listen-client-urls", client, "--advertise-client-urls", client,
                              "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                              "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                              "--initial-cluster", f"bench=http://127.0.0.1:{peer}",
                              "--logger", "zap", "--log-level", "warn"],
                             cfg.load_cpu, os.path.join(tmp, "etcd.log"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                self.call("/v3/kv/range", {"key": b64("x")})
                return
            except (OSError, RuntimeError):
                time.sleep(0.05)
        raise RuntimeError(f"etcd did not start:\n{bl.tail(os.path.join(tmp, 'etcd.log'))}")

    def call(self, path, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.client_port, timeout=30)
        try:
            conn.request("POST", path, json.dumps(body))
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"etcd {path}: {resp.status} {data[:200]!r}")
        return json.loads(data)

    def compact(self):
        rev = self.call("/v3/kv/range", {"key": b64("x")})["header"]["revision"]
        self.call("/v3/kv/compaction", {"revision": rev, "physical": True})

    def pids(self):
        return bl.process_tree(self.proc.pid)


class Relay:
    """A TCP forwarder to etcd that can be cut (every connection closed, new ones refused)."""

    def __init__(self, target_port):
        self.target = target_port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self.lock = threading.Lock()
        self.cut_now = False
        self.socks = set()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            with self.lock:
                if self.cut_now:
                    c.close()
                    continue
            u = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.socks.update((c, u))
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def cut(self):
        with self.lock:
            self.cut_now = True
            socks, self.socks = list(self.socks), set()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restore(self):
        with self.lock:
            self.cut_now = False


class Node:
    """`switchboard serve --registry etcd://...` with its admin listener."""

    def __init__(self, cfg, tmp, name, etcd_port):
        self.name = name
        d = tempfile.mkdtemp(prefix=f"sb-{name}-", dir=tmp)
        self.log_path = os.path.join(d, "switchboard.log")
        self.started = time.monotonic()
        self.proc = bl.spawn([cfg.sb, "serve", "--listen", "127.0.0.1:0", "--admin-listen",
                              "127.0.0.1:0", "--registry", f"etcd://127.0.0.1:{etcd_port}",
                              "--threads", "1", "--access-log", "off"], cfg.proxy_cpu,
                             self.log_path, cwd=d)
        deadline = time.monotonic() + 60
        self.port = self.admin_port = None
        while time.monotonic() < deadline:
            text = bl.tail(self.log_path, 50)
            proxy, admin = LISTEN_RE.search(text), ADMIN_RE.search(text)
            if proxy and admin:
                self.port, self.admin_port = int(proxy.group(2)), int(admin.group(2))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.005)
        self.listening_s = time.monotonic() - self.started
        if self.port is None:
            bl.stop(self.proc)
            raise RuntimeError(f"switchboard ({name}) did not start:\n{bl.tail(self.log_path)}")
        self.admin = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=30)

    def call(self, method, path, body=None):
        self.admin.request(method, path, body=json.dumps(body) if body is not None else None)
        resp = self.admin.getresponse()
        return resp.status, resp.read()

    def metric(self, name):
        status, text = self.call("GET", "/metrics")
        m = re.search(rf"^{name} (\d+)$", text.decode(), re.M)
        return int(m.group(1)) if m else None

    def reads(self):
        """(instances, revision, ms) of every full read its log reports."""
        with open(self.log_path) as f:
            return [tuple(int(g) for g in m.groups()) for m in READ_RE.finditer(f.read())]

    def pids(self):
        return bl.process_tree(self.proc.pid)

    def stop(self):
        self.admin.close()
        bl.stop(self.proc)


def poll(conn, path, want, timeout_s=5.0):
    """GETs `path` over `conn` until it answers `want`; perf_counter_ns of that answer."""
    deadline = time.perf_counter_ns() + int(timeout_s * 1e9)
    while True:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        t = time.perf_counter_ns()
        if resp.status == want:
            return t
        if t > deadline:
            raise RuntimeError(f"GET {path}: still {resp.status}, not {want}, after {timeout_s} s")


def stats(values):
    return {"p50": percentile(values, 50), "p99": percentile(values, 99), "max": max(values)}


# ---------------------------------------------------------------------------------------------
# parts


def propagation(cfg, tmp, etcd, backend_port):
    a, b = Node(cfg, tmp, "prop-a", etcd.client_port), Node(cfg, tmp, "prop-b", etcd.client_port)
    try:
        proxy_b = http.client.HTTPConnection("127.0.0.1", b.port, timeout=10)
        rows = {op: {"sent": [], "acked": [], "api": []} for op in ("register", "deregister")}
        warm = 10
        for i in range(warm + cfg.n):
            path = f"/p{i}/"
            for op, method, body, want in (
                    ("register", "PUT", {"address": "127.0.0.1", "port": backend_port,
                                         "routes": [{"path_prefix": path}]}, 200),
                    ("deregister", "DELETE", None, 404)):
                t0 = time.perf_counter_ns()
                status, answer = a.call(method, instance_path("prop", f"i{i}"), body)
                t1 = time.perf_counter_ns()
                if status not in (200, 201):
                    raise RuntimeError(f"{method} on A: {status} {answer[:200]!r}")
                t2 = poll(proxy_b, path, want)
                if i >= warm:
                    rows[op]["sent"].append((t2 - t0) / 1e6)
                    rows[op]["acked"].append((t2 - t1) / 1e6)
                    rows[op]["api"].append((t1 - t0) / 1e6)
        bl.log("propagation: " + ", ".join(
            f"{op} p50 {fmt(percentile(r['sent'], 50), 2)} ms p99 {fmt(percentile(r['sent'], 99), 2)} ms"
            for op, r in rows.items()))
        return {op: {k: stats(v) for k, v in r.items()} for op, r in rows.items()}
    finally:
        a.stop()
        b.stop()


def heartbeat(cfg, tmp, etcd, backend_port):
    a = Node(cfg, tmp, "hb", etcd.client_port)
    try:
        instances = [(f"hb-{k // 10}", f"i{k}") for k in range(cfg.hb_instances)]
        bulk_register(a, [(instance_path(s, i), {"address": "127.0.0.1", "port": backend_port,
                                                 "ttl": "30s"}) for s, i in instances],
                      cfg.reg_threads, "heartbeat instances")
        script = write_lua(os.path.join(tmp, "heartbeat.lua"), f"""
local paths = {lua_list([instance_path(s, i) + '/heartbeat' for s, i in instances])}
{LUA_THREAD_OFFSET}
function request()
  n = n + 1
  return wrk.format("PUT", paths[n % #paths + 1], nil, "")
end
""")
        url = f"http://127.0.0.1:{a.admin_port}/"
        rounds = []
        for rnd in range(1, cfg.rounds + 1):
            run_wrk(cfg, url, cfg.warmup, cfg.hb_connections, script)
            pids, etcd_pids = a.pids(), etcd.pids()
            sb0, etcd0 = bl.cpu_ticks(pids)[0], bl.cpu_ticks(etcd_pids)[0]
            batches0 = a.metric("switchboard_registry_etcd_keepalive_batches_total")
            leases0 = a.metric("switchboard_registry_etcd_keepalives_total")
            res = run_wrk(cfg, url, cfg.duration, cfg.hb_connections, script)
            sb1, etcd1 = bl.cpu_ticks(pids)[0], bl.cpu_ticks(etcd_pids)[0]
            batches = a.metric("switchboard_registry_etcd_keepalive_batches_total") - batches0
            leases = a.metric("switchboard_registry_etcd_keepalives_total") - leases0
            res["sb_cpu_s"] = (sb1 - sb0) / bl.CLK_TCK
            res["etcd_cpu_s"] = (etcd1 - etcd0) / bl.CLK_TCK
            res["per_sb_cpu_s"] = res["requests"] / res["sb_cpu_s"] if res["sb_cpu_s"] else None
            res["per_etcd_cpu_s"] = res["requests"] / res["etcd_cpu_s"] if res["etcd_cpu_s"] else None
            res["leases_per_call"] = leases / batches if batches else None
            rounds.append(res)
            bl.log(f"heartbeat round {rnd}: {fmt(res['rps'])}/s, p99 {fmt(res['p99'], 2)} ms, "
                   f"{fmt(res['leases_per_call'], 1)} leases per keep-alive call, "
                   f"{res['errors']} errors")
        _, body = a.call("GET", "/v1/services")
        services = json.loads(body)["services"]
        passing = sum(s["passing"] for s in services)
        return {"rounds": rounds, "passing": passing, "total": sum(s["total"] for s in services)}
    finally:
        a.stop()


def resync(cfg, tmp, etcd, backend_port):
    loader = Node(cfg, tmp, "loader", etcd.client_port)
    try:
        bulk_register(loader, [(instance_path(f"svc-{k // 10}", f"i{k}"),
                                {"address": "127.0.0.1", "port": backend_port, "ttl": "1h",
                                 "routes": [{"path_prefix": f"/p-svc-{k // 10}/"}]})
                               for k in range(cfg.instances)], cfg.reg_threads, "resync instances")
    finally:
        loader.stop()
    cold, warm = [], []
    for rnd in range(1, cfg.rounds + 1):
        node = Node(cfg, tmp, f"cold-{rnd}", etcd.client_port)
        try:
            proxy = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
            poll(proxy, f"/p-svc-{cfg.instances // 20}/", 200)
            routing_s = time.monotonic() - node.started
            count, _, ms = node.reads()[0]
            cold.append({"read_ms": ms, "instances": count, "listening_s": node.listening_s,
                         "routing_s": routing_s})
        finally:
            node.stop()
        relay = Relay(etcd.client_port)
        node = Node(cfg, tmp, f"warm-{rnd}", relay.port)
        other = Node(cfg, tmp, f"writer-{rnd}", etcd.client_port)
        try:
            proxy = http.client.HTTPConnection("127.0.0.1", node.port, timeout=10)
            relay.cut()
            # A few revisions while the node is cut off, so the one it would resume from is
            # compacted away (a single revision would still be there: compaction keeps its own).
            for method in ("PUT", "DELETE"):
                other.call(method, instance_path("late", f"tmp{rnd}"),
                           {"address": "127.0.0.1", "port": backend_port} if method == "PUT" else None)
            status, answer = other.call("PUT", instance_path("late", f"r{rnd}"),
                                        {"address": "127.0.0.1", "port": backend_port,
                                         "routes": [{"path_prefix": f"/p-late-{rnd}/"}]})
            if status != 201:
                raise RuntimeError(f"registration during the cut: {status} {answer[:200]!r}")
            etcd.compact()
            t0 = time.perf_counter_ns()
            relay.restore()
            t1 = poll(proxy, f"/p-late-{rnd}/", 200, timeout_s=60)
            deadline = time.monotonic() + 30  # the log line follows the snapshot it published
            while len(node.reads()) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            reads = node.reads()
            if len(reads) < 2:
                raise RuntimeError("the node did not read everything afresh after the compaction")
            warm.append({"read_ms": reads[-1][2], "instances": reads[-1][0],
                         "routing_ms": (t1 - t0) / 1e6})
        finally:
            node.stop()
            other.stop()
            relay.cut()
            relay.lsock.close()
        bl.log(f"resync round {rnd}: cold read {cold[-1]['read_ms']} ms "
               f"(listening {cold[-1]['listening_s']:.2f} s), after compaction read "
               f"{warm[-1]['read_ms']} ms, routing the change {warm[-1]['routing_ms']:.0f} ms after "
               f"reconnecting")
    return {"cold": cold, "warm": warm}


# ---------------------------------------------------------------------------------------------


def main():
    cfg = Config()
    for tool in ("taskset", "wrk", "nginx", "etcd"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found; run scripts/install-deps.sh and bench/install-bench-deps.sh")
    if not os.access(cfg.sb, os.X_OK):
        sys.exit(f"no switchboard executable at {cfg.sb} (build it, or set SB=...)")
    bl.install_cleanup(max_seconds=bl.env_int("TIME_LIMIT", 1800))
    os.sched_setaffinity(0, {int(c) for c in cfg.load_cpu.split(",")})
    tmp = bl.make_tempdir("sb-cluster-bench-")
    ports = bl.free_ports(1)
    backend = bl.start_backends(tmp, ports, cfg.load_cpu, extra_locations=EXTRA_LOCATIONS)
    reason = bl.wait_http(backend, ports[0], "/p0/")
    if reason:
        raise RuntimeError(f"backend: {reason}")
    version = bl.tool_version(["etcd", "--version"])
    results = {}
    for part, run in (("propagation", propagation), ("heartbeat", heartbeat), ("resync", resync)):
        if part in cfg.parts:
            etcd = Etcd(cfg, tmp)  # each part on an empty etcd of its own
            try:
                results[part] = run(cfg, tmp, etcd, ports[0])
            finally:
                bl.stop(etcd.proc)

    md = [f"## Cluster mode on etcd ({time.strftime('%Y-%m-%d')})", "",
          f"Command: `{' '.join(f'{k}={os.environ[k]}' for k in sorted(os.environ) if k in KNOBS)}"
          f"{' ' if any(k in os.environ for k in KNOBS) else ''}bench/cluster_bench.sh`", "",
          f"Machine: {bl.machine_line()}", "",
          f"Method: one etcd member ({version}, data on disk, fsync as shipped) on CPU "
          f"{cfg.load_cpu} with nginx, wrk and this script; switchboard nodes (`serve --threads 1 "
          f"--access-log off --registry etcd://...`) on CPU {cfg.proxy_cpu}.", ""]
    if "propagation" in results:
        r = results["propagation"]
        md += [f"### Cross-node propagation ({cfg.n} iterations after 10 warm-up)", "",
               "A write through node A until node B's proxy answers by it (keep-alive polling).", "",
               "| change | from sending, p50 | p99 | max | from A's 2xx, p50 | p99 | A's API call, p50 | p99 |",
               "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for op in ("register", "deregister"):
            s, k, api = r[op]["sent"], r[op]["acked"], r[op]["api"]
            md.append(f"| {op} | {fmt(s['p50'], 2)} ms | {fmt(s['p99'], 2)} ms | {fmt(s['max'], 2)} ms | "
                      f"{fmt(k['p50'], 2)} ms | {fmt(k['p99'], 2)} ms | {fmt(api['p50'], 2)} ms | "
                      f"{fmt(api['p99'], 2)} ms |")
        md.append("")
    if "heartbeat" in results:
        r = results["heartbeat"]
        med = lambda k: bl.median([x[k] for x in r["rounds"]])  # noqa: E731
        md += [f"### Heartbeats against etcd ({cfg.hb_instances} instances, `wrk -c{cfg.hb_connections}`, "
               f"{cfg.rounds} rounds x {cfg.duration} s)", "",
               "| figure | median | per round |", "|---|---:|---|"]
        for key, label, digits in (("rps", "heartbeats/s", 0), ("p50", "p50 ms", 2), ("p99", "p99 ms", 2),
                                   ("per_sb_cpu_s", "per switchboard CPU-s", 0),
                                   ("per_etcd_cpu_s", "per etcd CPU-s", 0),
                                   ("leases_per_call", "leases per keep-alive call", 1),
                                   ("errors", "non-2xx + socket errors", 0)):
            md.append(f"| {label} | {fmt(med(key), digits)} | "
                      + ", ".join(fmt(x[key], digits) for x in r["rounds"]) + " |")
        md += ["", f"Passing after the runs: {r['passing']} of {r['total']}.", ""]
    if "resync" in results:
        r = results["resync"]
        md += [f"### Reading {cfg.instances} instances from etcd ({cfg.rounds} rounds)", "",
               "| round | fresh node: full read | listening after start | routing after start | "
               "after compaction: full read | change routed after reconnecting |",
               "|---:|---:|---:|---:|---:|---:|"]
        for i, (c, w) in enumerate(zip(r["cold"], r["warm"]), 1):
            md.append(f"| {i} | {c['read_ms']} ms ({c['instances']} instances) | "
                      f"{c['listening_s']:.2f} s | {c['routing_s']:.2f} s | "
                      f"{w['read_ms']} ms ({w['instances']}) | "
                      f"{w['routing_ms']:.0f} ms |")
        md.append("")
    bl.publish(md, cfg.results_dir, "cluster")


if __name__ == "__main__":
    bl.run_main(main)
