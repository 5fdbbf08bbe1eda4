#!/usr/bin/python3
"""Registry benchmarks (issue 3): how fast a registry change reaches the proxy, how many
heartbeats and registrations one core takes, and whether a large registry slows the data plane.
Run through registry_bench.sh; knobs are environment variables (see bench/README.md).

Three parts, each against a switchboard of its own (`serve --threads 1`, admin listener and
registry in a temp dir), pinned alone to PROXY_CPU; nginx backends, wrk and this script share
LOAD_CPU, as in proxy_compare.py (DESIGN.md, "How performance is measured"):

- propagation: register an instance declaring a new route, then at once send a proxied request on
  it (keep-alive); likewise drain (-> 503, the instance gets nothing) and deregister (-> 404).
  Times from sending the change and from receiving its 2xx to the proxied answer.
- heartbeat: K instances with a TTL, then wrk PUTting heartbeats cycling through them; heartbeats
  per second and per switchboard CPU-second. Also registrations (changed bodies, each one fsynced
  to SQLite), which are bound by the disk, not the CPU.
- scale: proxied requests/s and requests per switchboard CPU-second with 3 registered instances (A)
  and with the same plus SERVICES x PER_SERVICE instances, the load on one of those services (B);
  optionally (SPREAD=1) the load spread over every service's route (C). Rounds interleaved; the
  figure to quote is the median of per-round B/A ratios.
"""

import atexit
import http.client
import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from proxy_compare import fmt, parse_wrk  # noqa: E402  (wrk output and number format, shared)

ALL_PARTS = ["propagation", "heartbeat", "scale"]
LISTEN_RE = re.compile(r"proxy listening on http://([0-9.]+):(\d+)")
ADMIN_RE = re.compile(r"admin listening on http://([0-9.]+):(\d+)")
JSON_HEADERS = {"Content-Type": "application/json"}

# Backend locations for the routed prefixes: /p<i>/ answers with the backend port, so the
# propagation test can check that the new instance (and no other) answered; /svc-<n>/ answers like
# `location = /` (same 13-byte body), so A and B of the scale test differ only in the proxy's work.
EXTRA_LOCATIONS = f"""        location /p {{ return 200 "$server_port\\n"; }}
        location /svc- {{ return 200 "{bl.SMALL_BODY.strip()}\\n"; }}"""

TARGET_P99_MS = 10.0
TARGET_HEARTBEATS = 20000.0
TARGET_SCALE_RATIO = 0.95


class Config:
    def __init__(self):
        self.parts = bl.env_str("PARTS", " ".join(ALL_PARTS)).replace(",", " ").split()
        for p in self.parts:
            if p not in ALL_PARTS:
                sys.exit(f"unknown part {p!r} in PARTS (want {', '.join(ALL_PARTS)})")
        # Absolute: switchboard runs with its temp dir as cwd.
        self.sb = os.path.abspath(bl.env_str("SB", bl.DEFAULT_SB))
        self.sb_args = bl.env_str("SB_ARGS", "").split()
        self.n = bl.env_int("N", 500)
        self.warm_iterations = bl.env_int("WARM_ITERATIONS", 10)
        self.rounds = bl.env_int("ROUNDS", 5)
        self.duration = bl.env_int("DURATION", 10)
        self.warmup = bl.env_int("WARMUP", 2)
        self.hb_instances = bl.env_int("HB_INSTANCES", 1000)
        self.hb_connections = bl.env_int("HB_CONNECTIONS", 32)
        self.reg_connections = bl.env_int("REG_CONNECTIONS", 32)
        self.ttl = bl.env_str("TTL", "30s")
        self.services = bl.env_int("SERVICES", 1000)
        self.per_service = bl.env_int("PER_SERVICE", 10)
        self.target_service = bl.env_int("TARGET_SERVICE", self.services // 2)
        # Instances registered (10 per service, each service with a route) before the propagation
        # iterations: propagation in a registry of that size, not a near-empty one.
        self.prop_background = bl.env_int("PROP_BACKGROUND", 0)
        self.spread = bl.env_int("SPREAD", 0) == 1
        self.connections = bl.env_int("CONNECTIONS", 64)
        self.wrk_threads = bl.env_int("WRK_THREADS", 1)
        self.reg_threads = bl.env_int("REG_THREADS", 8)
        self.proxy_cpu = bl.env_str("PROXY_CPU", "1")
        self.load_cpu = bl.env_str("LOAD_CPU", "0")
        self.backend_cpu = bl.env_str("BACKEND_CPU", "0")
        self.data_dir_parent = bl.env_str("DATA_DIR_PARENT", "")
        here = os.path.dirname(os.path.abspath(__file__))
        self.results_dir = bl.env_str("RESULTS_DIR", os.path.join(here, "results"))
        if not 0 <= self.target_service < max(self.services, 1):
            sys.exit("TARGET_SERVICE must be in [0, SERVICES)")
        if min(self.n, self.rounds, self.duration, self.hb_instances) < 1:
            sys.exit("N, ROUNDS, DURATION and HB_INSTANCES must be at least 1")


def cpu_set(spec):
    """CPU indices of a taskset list such as "0" or "0,2-3"."""
    out = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def percentile(values, pct):
    """Nearest-rank percentile (the value below which pct % of the samples fall)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100.0 * len(ordered)) - 1)]


def filesystem_of(path):
    """"ext4 on /dev/vda" for the mount that holds `path` (from /proc/mounts)."""
    path, best = os.path.realpath(path), ("?", "?", "")
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, fstype = line.split()[:3]
                mnt = mnt.replace("\\040", " ")
                inside = path == mnt or path.startswith(mnt.rstrip("/") + "/")
                if inside and len(mnt) >= len(best[2]):
                    best = (fstype, dev, mnt)
    except OSError:
        pass
    return f"{best[0]} on {best[1]}"


# ---------------------------------------------------------------------------------------------
# switchboard with its registry


class Switchboard:
    """`switchboard serve` with the admin listener; ports are chosen by the kernel (port 0) and read
    back from its log, so there is no race for a free port."""

    def __init__(self, cfg, tmp, name):
        self.name = name
        d = tempfile.mkdtemp(prefix=f"sb-{name}-", dir=tmp)
        if cfg.data_dir_parent:
            os.makedirs(cfg.data_dir_parent, exist_ok=True)
            self.data_dir = tempfile.mkdtemp(prefix=f"sb-{name}-data-", dir=cfg.data_dir_parent)
            if os.environ.get("KEEP_TMP", "0") != "1":
                atexit.register(shutil.rmtree, self.data_dir, True)
        else:
            self.data_dir = os.path.join(d, "data")
        self.log_path = os.path.join(d, "switchboard.log")
        cmd = [cfg.sb, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
               "--data-dir", self.data_dir, "--threads", "1", "--access-log", "off", *cfg.sb_args]
        self.proc = bl.spawn(cmd, cfg.proxy_cpu, self.log_path, cwd=d)
        deadline = time.monotonic() + 15
        self.port = self.admin_port = None
        while time.monotonic() < deadline:
            text = bl.tail(self.log_path, 50)
            proxy, admin = LISTEN_RE.search(text), ADMIN_RE.search(text)
            if proxy and admin:
                self.port, self.admin_port = int(proxy.group(2)), int(admin.group(2))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            bl.stop(self.proc)
            raise RuntimeError(f"switchboard ({name}) did not report its listeners:\n"
                               f"{bl.tail(self.log_path)}")
        reason = bl.wait_http(self.proc, self.port, "/lb-health")
        if reason:
            bl.stop(self.proc)
            raise RuntimeError(f"switchboard ({name}): {reason}\n{bl.tail(self.log_path)}")
        self.pids = bl.process_tree(self.proc.pid)
        self.admin = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=30)

    def refresh_pids(self):
        self.pids = bl.process_tree(self.proc.pid)
        return self.pids

    def call(self, method, path, body=None):
        """(status, body bytes) over the keep-alive admin connection."""
        return call(self.admin, method, path, body)

    def passing_total(self):
        status, body = self.call("GET", "/v1/services")
        if status != 200:
            raise RuntimeError(f"GET /v1/services: {status} {body[:200]!r}")
        services = json.loads(body)["services"]
        return sum(s["passing"] for s in services), sum(s["total"] for s in services)

    def stop(self):
        self.admin.close()
        bl.stop(self.proc)


def call(conn, method, path, body=None):
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    conn.request(method, path, body=body, headers=JSON_HEADERS if body else {})
    resp = conn.getresponse()
    return resp.status, resp.read()


def instance_path(service, iid):
    return f"/v1/services/{service}/instances/{iid}"


def many_services(backend_ports, services, per_service):
    """(path, body) registrations of `services` services `svc-<n>` with `per_service` instances
    each, spread over the backend ports, every instance declaring its service's route /svc-<n>/."""
    items = []
    for n in range(services):
        for j in range(per_service):
            port = backend_ports[(n * per_service + j) % len(backend_ports)]
            items.append((instance_path(f"svc-{n}", f"i{j}"),
                          {"address": "127.0.0.1", "port": port,
                           "routes": [{"path_prefix": f"/svc-{n}/"}]}))
    return items


def bulk_register(sb, items, threads, label):
    """PUTs every (path, body) in `items` over `threads` keep-alive connections. Each registration
    is one fsync on the registry's thread, so the connections mostly wait; several of them keep
    one request always queued there. Raises on any non-2xx."""
    lock = threading.Lock()
    state = {"next": 0, "done": 0, "error": None}

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", sb.admin_port, timeout=60)
        try:
            while True:
                with lock:
                    i = state["next"]
                    if i >= len(items) or state["error"]:
                        return
                    state["next"] = i + 1
                path, body = items[i]
                status, answer = call(conn, "PUT", path, body)
                if not 200 <= status < 300:
                    raise RuntimeError(f"PUT {path}: {status} {answer[:200]!r}")
                with lock:
                    state["done"] += 1
        except Exception as exc:  # noqa: BLE001  (reported by the main thread)
            with lock:
                state["error"] = state["error"] or exc
        finally:
            conn.close()

    t0 = time.monotonic()
    pool = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, threads))]
    for t in pool:
        t.start()
    last, last_done = t0, 0
    while any(t.is_alive() for t in pool):
        time.sleep(0.2)
        now = time.monotonic()
        if now - last >= 5:
            done = state["done"]
            rate = (done - last_done) / (now - last)  # recent: it falls as the registry grows
            left = (len(items) - done) / rate if rate > 0 else float("inf")
            bl.log(f"  {label}: {done}/{len(items)} registered ({rate:,.0f}/s over the last "
                   f"{now - last:.0f} s, ~{left:.0f} s left)")
            last, last_done = now, done
    if state["error"]:
        raise RuntimeError(f"{label}: {state['error']}")
    elapsed = time.monotonic() - t0
    bl.log(f"  {label}: {len(items)} registered in {elapsed:.1f} s "
           f"({len(items) / elapsed:,.0f}/s over {threads} connections)")
    return elapsed


# ---------------------------------------------------------------------------------------------
# wrk runs with CPU accounting


def run_wrk(cfg, url, seconds, connections, script=None):
    cmd = ["taskset", "-c", cfg.load_cpu, "wrk", "-t", str(cfg.wrk_threads), "-c",
           str(connections), "-d", f"{seconds}s", "--timeout", "10s", "--latency"]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, timeout=seconds + 60)
    res = parse_wrk(out.stdout)
    if out.returncode != 0 or res["requests"] is None:
        raise RuntimeError(f"wrk failed (rc {out.returncode}):\n{out.stdout}\n{out.stderr}")
    return res


def _children_ticks():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * bl.CLK_TCK


def measure(cfg, sb, url, connections, script=None, others=(), backend_pids=()):
    """A WARMUP s wrk run, then the measured DURATION s one with the switchboard's CPU time (all its
    threads: proxy worker, admin/registry thread, logger) and foreign load on our CPUs."""
    pids = sb.refresh_pids()
    if cfg.warmup > 0:
        run_wrk(cfg, url, cfg.warmup, connections, script)
    other_before = sum(bl.cpu_ticks(o.pids)[0] for o in others)
    busy0, load0 = bl.cpu_busy_ticks(), _children_ticks()
    backend0 = bl.cpu_ticks(backend_pids)[0]
    t0 = time.monotonic()
    ticks0, _ = bl.cpu_ticks(pids)
    res = run_wrk(cfg, url, cfg.duration, connections, script)
    ticks1, gone = bl.cpu_ticks(pids)
    window = (time.monotonic() - t0) * bl.CLK_TCK
    busy1, load1 = bl.cpu_busy_ticks(), _children_ticks()
    backend1 = bl.cpu_ticks(backend_pids)[0]
    if gone:
        bl.log(f"warning: switchboard ({sb.name}) processes {gone} exited during the run")
    proxy_cpus = cpu_set(cfg.proxy_cpu)
    load_cpus = (cpu_set(cfg.load_cpu) | cpu_set(cfg.backend_cpu)) - proxy_cpus
    busy = lambda cpus: sum(busy1[c] - busy0[c] for c in cpus if c in busy1)  # noqa: E731
    # Our own load-CPU users: wrk (a reaped child), the backends, and this script (polling only).
    ours_load = (load1 - load0) + (backend1 - backend0)
    res["foreign_proxy_cpu"] = max(0.0, busy(proxy_cpus) - (ticks1 - ticks0)) / window
    res["foreign_load_cpu"] = max(0.0, busy(load_cpus) - ours_load) / window
    res["idle_peer_ticks"] = sum(bl.cpu_ticks(o.pids)[0] for o in others) - other_before
    res["cpu_s"] = (ticks1 - ticks0) / bl.CLK_TCK
    res["per_cpu_s"] = res["requests"] / res["cpu_s"] if res["cpu_s"] > 0 else None
    return res


FOREIGN_WARN = 0.05


def foreign(r):
    flag = "!" if max(r["foreign_proxy_cpu"], r["foreign_load_cpu"]) > FOREIGN_WARN else ""
    return f"{r['foreign_proxy_cpu'] * 100:.0f}/{r['foreign_load_cpu'] * 100:.0f}{flag}"


def lua_list(strings):
    return "{\n" + "".join(f"  {json.dumps(s)},\n" for s in strings) + "}"


# Each wrk thread starts at its own offset in the cycle, so with -t > 1 the threads do not send
# the same request at the same moment.
LUA_THREAD_OFFSET = """
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
local n = 0
function init(args)
  n = offset or 0
end
"""


def write_lua(path, text):
    with open(path, "w") as f:
        f.write("-- generated by bench/registry_bench.py\n" + text)
    return path


# ---------------------------------------------------------------------------------------------
# part 1: propagation


def probe(conn, path, want, timeout_s=2.0):
    """GETs `path` until the status is `want`. Returns (perf_counter_ns at that answer, how many
    answers were something else first, the body)."""
    deadline = time.perf_counter_ns() + int(timeout_s * 1e9)
    misses = 0
    while True:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        t = time.perf_counter_ns()
        if resp.status == want:
            return t, misses, body
        misses += 1
        if t > deadline:
            raise RuntimeError(f"GET {path}: still {resp.status}, not {want}, after {timeout_s} s")


def propagation(cfg, tmp, backend_ports):
    sb = Switchboard(cfg, tmp, "propagation")
    bl.log(f"propagation: switchboard pid {sb.proc.pid}, proxy :{sb.port}, admin :{sb.admin_port}; "
           f"{cfg.warm_iterations} warm-up + {cfg.n} measured iterations")
    if cfg.prop_background:
        try:
            bulk_register(sb, many_services(backend_ports, math.ceil(cfg.prop_background / 10),
                                            10)[:cfg.prop_background],
                          cfg.reg_threads, "propagation background")
        except BaseException:
            sb.stop()
            raise
    proxy = http.client.HTTPConnection("127.0.0.1", sb.port, timeout=10)
    # (name, warm-up?) per iteration; warm-up iterations are run but not recorded.
    iterations = ([(f"w{i}", True) for i in range(cfg.warm_iterations)]
                  + [(str(i), False) for i in range(cfg.n)])
    ms = lambda ns: ns / 1e6  # noqa: E731
    rows = {op: {"sent": [], "acked": [], "api": [], "wrong": 0}
            for op in ("register", "drain", "deregister")}
    reference = []
    reopened = 0
    try:
        for op, method, suffix, want in (("register", "PUT", "", 200),
                                         ("drain", "POST", "/drain", 503),
                                         ("deregister", "DELETE", "", 404)):
            t_phase = time.monotonic()
            for k, (name, warm) in enumerate(iterations):
                service, prefix = f"prop-{name}", f"/p{name}/"
                port = backend_ports[k % len(backend_ports)]
                body = ({"address": "127.0.0.1", "port": port, "routes": [{"path_prefix": prefix}]}
                        if op == "register" else None)
                sock = proxy.sock
                t0 = time.perf_counter_ns()
                status, answer = sb.call(method, instance_path(service, "i") + suffix, body)
                t1 = time.perf_counter_ns()
                if not 200 <= status < 300:
                    raise RuntimeError(f"{op} {service}: {status} {answer[:200]!r}")
                t2, misses, got = probe(proxy, prefix + "x", want)
                # A register is right only if the new instance answered (the body is its port).
                wrong = op == "register" and got.strip() != str(port).encode()
                if op == "register":  # one more request on the now-warm route: a plain round trip
                    t3 = time.perf_counter_ns()
                    probe(proxy, prefix + "x", 200)
                    t4 = time.perf_counter_ns()
                    if not warm:
                        reference.append(ms(t4 - t3))
                if sock is not None and proxy.sock is not sock:
                    reopened += 1
                if warm:
                    continue
                r = rows[op]
                r["sent"].append(ms(t2 - t0))
                r["acked"].append(ms(t2 - t1))
                r["api"].append(ms(t1 - t0))
                r["wrong"] += misses > 0 or wrong
            bl.log(f"  {op}: {len(iterations)} in {time.monotonic() - t_phase:.1f} s; "
                   f"ack -> routed p99 {fmt(percentile(rows[op]['acked'], 99), 2)} ms")
        remaining = sb.passing_total()[1] - cfg.prop_background
        if remaining:
            bl.log(f"warning: {remaining} propagation instances still registered at the end")
    finally:
        proxy.close()
        sb.stop()
    return {"rows": rows, "reference": reference, "reopened": reopened}


def propagation_md(cfg, res):
    def trio(values):
        return " / ".join(fmt(percentile(values, p), 2) for p in (50, 99, 100))

    expect = {"register": "200 from the new instance",
              "drain": "503 (the only instance is draining: it gets nothing)",
              "deregister": "404 (its route is gone)"}
    lines = ["| change | proxied request answers | sent → answered ms p50 / p99 / max | "
             "2xx → answered ms p50 / p99 / max | admin call ms p50 / p99 / max | "
             "first answer wrong |",
             "|---|---|---:|---:|---:|---:|"]
    for op, r in res["rows"].items():
        lines.append(f"| {op} | {expect[op]} | {trio(r['sent'])} | {trio(r['acked'])} | "
                     f"{trio(r['api'])} | {r['wrong']} of {len(r['sent'])} |")
    lines.append(f"| (reference) | a second GET on the route just registered | | "
                 f"{trio(res['reference'])} | | |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# part 2: heartbeats and registrations


def heartbeat(cfg, tmp, backend_ports, backend_pids):
    sb = Switchboard(cfg, tmp, "heartbeat")
    bl.log(f"heartbeat: switchboard pid {sb.proc.pid}, admin :{sb.admin_port}; "
           f"registering {cfg.hb_instances} instances (ttl {cfg.ttl})")
    instances = [(f"hb-{k // 10}", f"i{k}", backend_ports[k % len(backend_ports)])
                 for k in range(cfg.hb_instances)]
    try:
        bulk_register(sb, [(instance_path(s, i), {"address": "127.0.0.1", "port": p,
                                                  "ttl": cfg.ttl})
                           for s, i, p in instances], cfg.reg_threads, "heartbeat instances")
        hb_script = write_lua(os.path.join(tmp, "heartbeat.lua"), f"""
local paths = {lua_list([instance_path(s, i) + '/heartbeat' for s, i, _ in instances])}
{LUA_THREAD_OFFSET}
function request()
  n = n + 1
  return wrk.format("PUT", paths[n % #paths + 1], nil, "")
end
""")
        # Changed bodies: the meta value differs on every PUT, so each one is a real update
        # (store write + fsync, new snapshot), not a no-op re-registration.
        reg_script = write_lua(os.path.join(tmp, "registration.lua"), f"""
local services = {lua_list([s for s, _, _ in instances])}
local ids = {lua_list([i for _, i, _ in instances])}
local ports = {{{', '.join(str(p) for _, _, p in instances)}}}
{LUA_THREAD_OFFSET}
function request()
  n = n + 1
  local k = n % #ids + 1
  local body = string.format(
    '{{"address":"127.0.0.1","port":%d,"ttl":"{cfg.ttl}","meta":{{"seq":"%d"}}}}', ports[k], n)
  return wrk.format("PUT", "/v1/services/" .. services[k] .. "/instances/" .. ids[k],
                    {{["Content-Type"] = "application/json"}}, body)
end
""")
        url = f"http://127.0.0.1:{sb.admin_port}/"
        rounds = []
        for rnd in range(1, cfg.rounds + 1):
            passing, total = sb.passing_total()
            if passing != total:
                bl.log(f"warning: {total - passing} of {total} instances critical before round "
                       f"{rnd} (TTL {cfg.ttl} too short for the registration rate?)")
            hb = measure(cfg, sb, url, cfg.hb_connections, hb_script, backend_pids=backend_pids)
            reg = measure(cfg, sb, url, cfg.reg_connections, reg_script, backend_pids=backend_pids)
            hb["critical_before"] = total - passing
            rounds.append({"heartbeat": hb, "registration": reg})
            for what, r in (("heartbeats", hb), ("registrations", reg)):
                bl.log(f"round {rnd}/{cfg.rounds} {what:>13}: {fmt(r['rps'])}/s, "
                       f"{fmt(r['per_cpu_s'])} per CPU-s, p99 {fmt(r['p99'], 2)} ms, "
                       f"foreign load {foreign(r)}"
                       + (f", {r['errors']} ERRORS" if r["errors"] else ""))
    finally:
        sb.stop()
    return {"rounds": rounds, "data_fs": filesystem_of(sb.data_dir)}


def heartbeat_md(cfg, res):
    rounds = res["rounds"]
    lines = ["| figure | per s (wrk) | per switchboard CPU-s | CPU s | p50 ms | p99 ms | "
             "non-2xx + socket errors |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for key, label in (("heartbeat", f"heartbeats (`-c{cfg.hb_connections}`)"),
                       ("registration", f"registrations, fsynced (`-c{cfg.reg_connections}`)")):
        col = lambda k: bl.median([r[key][k] for r in rounds])  # noqa: E731,B023
        errors = sum(r[key]["errors"] for r in rounds)
        lines.append(f"| {label}, median | {fmt(col('rps'))} | {fmt(col('per_cpu_s'))} | "
                     f"{fmt(col('cpu_s'), 2)} | {fmt(col('p50'), 2)} | {fmt(col('p99'), 2)} | "
                     f"{errors} |")
    lines += ["", "Per round:", "",
              "| round | heartbeats/s | per CPU-s | errors | registrations/s | per CPU-s | errors "
              "| foreign load % (hb / reg) |",
              "|---:|---:|---:|---:|---:|---:|---:|---|"]
    for i, r in enumerate(rounds, 1):
        hb, reg = r["heartbeat"], r["registration"]
        lines.append(f"| {i} | {fmt(hb['rps'])} | {fmt(hb['per_cpu_s'])} | {hb['errors']} | "
                     f"{fmt(reg['rps'])} | {fmt(reg['per_cpu_s'])} | {reg['errors']} | "
                     f"{foreign(hb)} / {foreign(reg)} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# part 3: proxy rate with a large registry


def scale(cfg, tmp, backend_ports, backend_pids):
    web = [(instance_path("web", f"w{j}"), {"address": "127.0.0.1", "port": p,
                                            "routes": [{"path_prefix": "/"}]})
           for j, p in enumerate(backend_ports)]
    many = many_services(backend_ports, cfg.services, cfg.per_service)
    small = Switchboard(cfg, tmp, "scale-a")
    large = None
    try:
        bulk_register(small, web, 1, "A")
        large = Switchboard(cfg, tmp, "scale-b")
        bl.log(f"scale: A pid {small.proc.pid} (3 instances), B pid {large.proc.pid} "
               f"(3 + {len(many)} instances in {cfg.services} services); registering B's")
        bulk_register(large, web + many, cfg.reg_threads, "B")
        target = f"/svc-{cfg.target_service}/"
        for sb, path in ((small, "/"), (large, "/"), (large, target)):
            status, body = bl.http_get(sb.port, path)
            if status != 200:
                raise RuntimeError(f"switchboard ({sb.name}) GET {path}: {status} {body[:200]!r}")
        passing, total = large.passing_total()
        if passing != total or total != len(web) + len(many):
            raise RuntimeError(f"B has {passing} passing of {total} instances, "
                               f"expected {len(web) + len(many)}")
        configs = [("A", small, f"http://127.0.0.1:{small.port}/", None),
                   ("B", large, f"http://127.0.0.1:{large.port}{target}", None)]
        if cfg.spread:
            spread_script = write_lua(os.path.join(tmp, "spread.lua"), f"""
local paths = {lua_list([f'/svc-{n}/' for n in range(cfg.services)])}
{LUA_THREAD_OFFSET}
function request()
  n = n + 1
  return wrk.format("GET", paths[n % #paths + 1])
end
""")
            configs.append(("C", large, f"http://127.0.0.1:{large.port}/", spread_script))
        rounds = []
        idle_ticks = 0
        for rnd in range(1, cfg.rounds + 1):
            results = {}
            for label, sb, url, script in configs:
                other = [large if sb is small else small]
                other[0].refresh_pids()
                r = measure(cfg, sb, url, cfg.connections, script, other, backend_pids)
                idle_ticks += r["idle_peer_ticks"]
                results[label] = r
                bl.log(f"round {rnd}/{cfg.rounds} {label}: {fmt(r['rps'])} req/s, "
                       f"{fmt(r['per_cpu_s'])} req/CPU-s, p99 {fmt(r['p99'], 2)} ms, "
                       f"foreign load {foreign(r)}"
                       + (f", {r['errors']} ERRORS" if r["errors"] else ""))
            rounds.append(results)
    finally:
        small.stop()
        if large:
            large.stop()
    return {"rounds": rounds, "labels": [c[0] for c in configs], "target": target,
            "idle_s": idle_ticks / bl.CLK_TCK, "instances": len(web) + len(many)}


def ratio(rounds, a, b, key):
    return bl.median([r[a][key] / r[b][key] for r in rounds
                      if r.get(a) and r.get(b) and r[a][key] and r[b][key]])


def scale_md(cfg, res):
    rounds, labels = res["rounds"], res["labels"]
    desc = {"A": "1 service, 3 instances, route `/`; load on `/`",
            "B": f"A + {cfg.services} services x {cfg.per_service} instances; "
                 f"load on `{res['target']}`",
            "C": f"as B; load cycling over all {cfg.services} `/svc-<n>/` routes (SPREAD=1)"}
    lines = ["| config | req/s | req per CPU-s | p50 ms | p99 ms | req/s ÷ A | req/CPU-s ÷ A |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for label in labels:
        col = lambda k: bl.median([r[label][k] for r in rounds])  # noqa: E731,B023
        lines.append(f"| {label}: {desc[label]} | {fmt(col('rps'))} | {fmt(col('per_cpu_s'))} | "
                     f"{fmt(col('p50'), 2)} | {fmt(col('p99'), 2)} | "
                     f"{fmt(ratio(rounds, label, 'A', 'rps'), 3)} | "
                     f"{fmt(ratio(rounds, label, 'A', 'per_cpu_s'), 3)} |")
    lines += ["", "Per round:", "",
              "| round | " + " | ".join(f"{x} req/s | {x} req/CPU-s" for x in labels)
              + " | B/A req/CPU-s | errors | foreign load % |",
              "|---:|" + "---:|" * (2 * len(labels) + 2) + "---|"]
    for i, r in enumerate(rounds, 1):
        cells = " | ".join(f"{fmt(r[x]['rps'])} | {fmt(r[x]['per_cpu_s'])}" for x in labels)
        b_a = r["B"]["per_cpu_s"] / r["A"]["per_cpu_s"] if r["A"]["per_cpu_s"] and \
            r["B"]["per_cpu_s"] else None
        errors = sum(r[x]["errors"] for x in labels)
        lines.append(f"| {i} | {cells} | {fmt(b_a, 3)} | {errors} | "
                     + " ".join(foreign(r[x]) for x in labels) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def verdict(ok):
    return "met" if ok else "**not met**"


def main():
    cfg = Config()
    for tool in ("taskset", "wrk", "nginx"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found; run bench/install-bench-deps.sh")
    if not (os.path.isfile(cfg.sb) and os.access(cfg.sb, os.X_OK)):
        sys.exit(f"no switchboard executable at {cfg.sb} (build it, or set SB=...)")
    if os.cpu_count() < 2:
        bl.log("warning: fewer than 2 CPUs; switchboard and load cannot be separated")

    per_run = cfg.warmup + cfg.duration + 5
    registrations = (cfg.prop_background * ("propagation" in cfg.parts)
                     + cfg.hb_instances * ("heartbeat" in cfg.parts)
                     + cfg.services * cfg.per_service * ("scale" in cfg.parts))
    budget = (300 + 3 * (cfg.n + cfg.warm_iterations) * 0.2 + registrations * 0.05
              + cfg.rounds * per_run * (2 * ("heartbeat" in cfg.parts)
                                        + (2 + cfg.spread) * ("scale" in cfg.parts)))
    bl.install_cleanup(max_seconds=bl.env_int("TIME_LIMIT", int(budget)))
    # This script's own requests (propagation probes, bulk registration) run on the load CPU, away
    # from the switchboard under test. Children started through taskset choose their own CPU.
    os.sched_setaffinity(0, cpu_set(cfg.load_cpu))
    # SPREAD=1 needs an upstream connection per instance in switchboard and in the backends.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    backend_conns = 4096 + (cfg.services * cfg.per_service if cfg.spread else 0)
    if cfg.spread and hard != resource.RLIM_INFINITY and hard < backend_conns:
        bl.log(f"warning: SPREAD=1 wants ~{backend_conns} fds per process, the hard limit is {hard}")

    tmp = bl.make_tempdir("sb-registry-bench-")
    ports = bl.free_ports(3)
    backend = bl.start_backends(tmp, ports, cfg.backend_cpu, conns=backend_conns,
                                extra_locations=EXTRA_LOCATIONS)
    time.sleep(0.2)
    backend_pids = bl.process_tree(backend.pid)
    for path in ("/p0/x", "/svc-0/"):
        reason = bl.wait_http(backend, ports[0], path)
        if reason:
            raise RuntimeError(f"backend: {reason}")
    bl.log(f"backends: nginx on CPU {cfg.backend_cpu}, ports {ports}")

    results = {}
    if "propagation" in cfg.parts:
        results["propagation"] = propagation(cfg, tmp, ports)
    if "heartbeat" in cfg.parts:
        results["heartbeat"] = heartbeat(cfg, tmp, ports, backend_pids)
    if "scale" in cfg.parts:
        results["scale"] = scale(cfg, tmp, ports, backend_pids)

    data_fs = filesystem_of(cfg.data_dir_parent or tmp)
    md = [f"## Registry benchmarks ({time.strftime('%Y-%m-%d')})", "",
          f"Machine: {bl.machine_line()}", "",
          f"Method: each part has a switchboard of its own (`serve --threads 1 --access-log off`, "
          f"admin listener, registry in SQLite on {data_fs}) alone on CPU {cfg.proxy_cpu}; "
          f"backends (one nginx, 1 worker, 3 ports), wrk (`-t{cfg.wrk_threads}`) and the "
          f"benchmark's own client on CPU {cfg.backend_cpu}/{cfg.load_cpu}. CPU seconds: utime + "
          f"stime of every switchboard thread (proxy worker, admin/registry thread) from /proc.",
          "", f"Versions: {bl.tool_version(['nginx', '-v'])}; "
              f"{bl.tool_version(['wrk', '--version'])}; switchboard {cfg.sb}", ""]
    headline = []
    if "propagation" in results:
        rows = results["propagation"]["rows"]
        p99_sent = percentile(rows["register"]["sent"], 99)
        p99_acked = max(percentile(r["acked"], 99) for r in rows.values())
        wrong = sum(r["wrong"] for r in rows.values())
        headline.append(f"- **Propagation**: register → routed p99 **{fmt(p99_sent, 2)} ms** from "
                        f"sending the PUT (target < {TARGET_P99_MS:g} ms: "
                        f"{verdict(p99_sent is not None and p99_sent < TARGET_P99_MS)}); "
                        f"worst p99 from the 2xx to the proxied answer {fmt(p99_acked, 2)} ms; "
                        f"{wrong} first answers wrong")
    if "heartbeat" in results:
        rounds = results["heartbeat"]["rounds"]
        hb = bl.median([r["heartbeat"]["rps"] for r in rounds])
        hb_cpu = bl.median([r["heartbeat"]["per_cpu_s"] for r in rounds])
        errors = sum(r["heartbeat"]["errors"] for r in rounds)
        reg = bl.median([r["registration"]["rps"] for r in rounds])
        headline.append(f"- **Heartbeats**: **{fmt(hb)}/s** on one core, {fmt(hb_cpu)} per "
                        f"switchboard CPU-second, {errors} errors (target ≥ "
                        f"{TARGET_HEARTBEATS:,.0f}/s: {verdict(hb and hb >= TARGET_HEARTBEATS)}); "
                        f"registrations {fmt(reg)}/s (each fsynced: disk-bound)")
    if "scale" in results:
        rounds = results["scale"]["rounds"]
        eff = ratio(rounds, "B", "A", "per_cpu_s")
        rps = ratio(rounds, "B", "A", "rps")
        headline.append(f"- **Large registry** ({results['scale']['instances']:,} instances): "
                        f"requests per CPU-second B/A **{fmt(eff, 3)}**, requests/s B/A "
                        f"{fmt(rps, 3)} (median of {len(rounds)} per-round ratios; target ≥ "
                        f"{TARGET_SCALE_RATIO}: {verdict(eff and eff >= TARGET_SCALE_RATIO)})")
    md += headline + [""]

    if "propagation" in results:
        res = results["propagation"]
        background = (f"{cfg.prop_background} other instances registered, "
                      f"{math.ceil(cfg.prop_background / 10)} services with a route each"
                      if cfg.prop_background else "no other instances registered")
        md += [f"### Propagation of registry changes ({cfg.n} iterations, {background})", "",
               f"Per iteration, over one keep-alive admin connection and one keep-alive proxy "
               f"connection: PUT an instance (its own service, on a backend, declaring route "
               f"`/p<i>/`), then GET `/p<i>/x` through the proxy at once; all registered, then each "
               f"drained (POST .../drain, expecting 503), then each deregistered (DELETE, expecting "
               f"404). \"sent\": from sending the change; \"2xx\": from receiving its answer. "
               f"The admin call includes the fsync. A wrong first answer (request repeated until "
               f"right) means the 2xx came before the proxy followed. "
               f"{cfg.warm_iterations} warm-up iterations not counted; the proxy connection was "
               f"reopened {res['reopened']} times.", "",
               propagation_md(cfg, res), ""]
    if "heartbeat" in results:
        md += [f"### Heartbeats and registrations on one core ({cfg.rounds} rounds x "
               f"{cfg.duration} s)", "",
               f"{cfg.hb_instances} instances (ttl {cfg.ttl}, {math.ceil(cfg.hb_instances / 10)} "
               f"services) registered first; then wrk on the admin listener with a Lua script "
               f"cycling through them: `PUT .../heartbeat` (memory only), and PUT registrations "
               f"whose body changes every time (a real update: SQLite write with fsync, WAL, "
               f"synchronous=FULL, and a new proxy snapshot, before the 2xx). The registration "
               f"rate is bound by the disk's fsync latency ({results['heartbeat']['data_fs']}), "
               f"not by the CPU; it is not comparable across machines.", "",
               heartbeat_md(cfg, results["heartbeat"]), ""]
        if any(r["heartbeat"]["critical_before"] for r in results["heartbeat"]["rounds"]):
            md += ["**Warning: some instances had expired before a heartbeat round (TTL shorter "
                   "than a registration cycle); raise TTL.**", ""]
    if "scale" in results:
        res = results["scale"]
        md += [f"### Proxy rate with a large registry ({cfg.rounds} interleaved rounds x "
               f"{cfg.duration} s)", "",
               f"As proxy_compare (`wrk -t{cfg.wrk_threads} -c{cfg.connections}`, {cfg.warmup} s "
               f"warm-up), with the instances registered through the admin API instead of "
               f"`--backends`: two switchboards up together, A and B, measured in turn. B/A is the "
               f"median of per-round ratios. Idle switchboard used {res['idle_s']:.2f} CPU-s in "
               f"total while the other was measured.", "",
               scale_md(cfg, res), ""]
    all_runs = ([r[k] for r in results.get("heartbeat", {}).get("rounds", []) for k in r]
                + [r[k] for r in results.get("scale", {}).get("rounds", []) for k in r])
    if any(r["errors"] for r in all_runs):
        md += ["**Warning: some runs had socket errors or non-2xx responses.**", ""]
    if any(max(r["foreign_proxy_cpu"], r["foreign_load_cpu"]) > FOREIGN_WARN for r in all_runs):
        md += ["**Warning: other processes used our CPUs during some runs (foreign load, '!' above "
               f"{FOREIGN_WARN:.0%} of a CPU); rates from those runs are suspect, per CPU-second "
               "figures less so.**", ""]
    if all_runs:
        md += ["Foreign load: CPU time on the switchboard CPU / the wrk+backend CPU used by "
               "processes other than ours, in % of one CPU over the measured window.", ""]

    bl.publish(md, cfg.results_dir, "registry")


if __name__ == "__main__":
    bl.run_main(main)
