#!/usr/bin/python3
"""Data-plane comparison: switchboard vs nginx vs HAProxy, the method of DESIGN.md
("How performance is measured"). Run through proxy_compare.sh; knobs are environment variables
(see bench/README.md).

Why it is built this way:
- backends and wrk share CPU 0 and each proxy has CPU 1 to itself, so the proxy's own cost is
  isolated; requests per proxy CPU-second stays meaningful even when CPU 0 caps requests/s.
- rounds are interleaved (sb, nginx, haproxy, sb, ...) so slow drift of the machine hits every
  proxy alike; the figure to quote is the median of per-round ratios, not a ratio of medians.
- all proxies stay up for the whole run (idle ones cost nothing; this is checked and reported),
  so their upstream pools and caches are as warm as in production.
"""

import os
import re
import resource
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

PEERS = ["nginx", "haproxy"]  # the references ratios are computed against


class Config:
    def __init__(self):
        self.proxies = bl.env_str("PROXIES", "sb nginx haproxy").replace(",", " ").split()
        self.rounds = bl.env_int("ROUNDS", 5)
        self.duration = bl.env_int("DURATION", 10)
        self.warmup = bl.env_int("WARMUP", 2)
        self.connections = bl.env_int("CONNECTIONS", 64)
        self.wrk_threads = bl.env_int("WRK_THREADS", 1)
        self.body = bl.env_str("BODY", "0")
        self.proxy_cpu = bl.env_str("PROXY_CPU", "1")
        self.load_cpu = bl.env_str("LOAD_CPU", "0")
        self.backend_cpu = bl.env_str("BACKEND_CPU", "0")
        self.perf = bl.env_str("PERF", "auto")  # auto | on | off
        # Where perf counts syscalls: "warmup" keeps its tracepoint cost out of the measured
        # CPU figure; "measure" counts over the measured window itself.
        self.perf_window = bl.env_str("PERF_WINDOW", "warmup")
        here = os.path.dirname(os.path.abspath(__file__))
        self.results_dir = bl.env_str("RESULTS_DIR", os.path.join(here, "results"))
        if self.body not in bl.BODY_PATHS:
            sys.exit(f"BODY must be one of {', '.join(bl.BODY_PATHS)}, not {self.body!r}")
        if self.perf_window not in ("warmup", "measure"):
            sys.exit("PERF_WINDOW must be warmup or measure")
        if self.perf_window == "warmup" and self.warmup < 1:
            sys.exit("PERF_WINDOW=warmup needs WARMUP >= 1 (or set PERF_WINDOW=measure / PERF=off)")
        for p in self.proxies:
            if p not in bl.DISPLAY:
                sys.exit(f"unknown proxy {p!r} in PROXIES (want sb, nginx, haproxy)")
        self.path = bl.BODY_PATHS[self.body]


# ---------------------------------------------------------------------------------------------
# wrk and perf


_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * _UNIT_MS[m.group(2)] if m else None


def parse_wrk(out):
    res = {"requests": None, "seconds": None, "rps": None, "p50": None, "p99": None, "errors": 0}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if m:
        res["requests"] = int(m.group(1))
        res["seconds"] = _to_ms(m.group(2) + m.group(3)) / 1000.0
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        if m:
            res[key] = _to_ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        res["errors"] += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        res["errors"] += int(m.group(1))
    return res


def run_wrk(cfg, port, seconds):
    cmd = ["taskset", "-c", cfg.load_cpu, "wrk", "-t", str(cfg.wrk_threads),
           "-c", str(cfg.connections), "-d", f"{seconds}s", "--latency",
           f"http://127.0.0.1:{port}{cfg.path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 30)
    res = parse_wrk(out.stdout)
    if out.returncode != 0 or res["requests"] is None:
        raise RuntimeError(f"wrk failed (rc {out.returncode}):\n{out.stdout}\n{out.stderr}")
    return res


PERF_EVENTS = ["raw_syscalls:sys_enter", "syscalls:sys_enter_recvfrom"]


def perf_works():
    try:
        out = subprocess.run(["perf", "stat", "-x,", *sum((["-e", e] for e in PERF_EVENTS), []),
                              "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False, "perf not installed (bench/install-bench-deps.sh installs linux-perf)"
    counts = _parse_perf(out.stderr)
    if out.returncode != 0 or any(counts.get(e) is None for e in PERF_EVENTS):
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else ""
        return False, ("perf cannot read the syscall tracepoints (needs root or "
                       f"kernel.perf_event_paranoid <= -1, and tracefs mounted): {last}")
    return True, ""


def _parse_perf(text):
    counts = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        fields = line.split(",")
        if len(fields) >= 3 and fields[2] in PERF_EVENTS:
            try:
                counts[fields[2]] = int(fields[0])
            except ValueError:  # "<not counted>" / "<not supported>"
                counts[fields[2]] = None
    return counts


class PerfStat:
    """`perf stat` attached to a proxy's processes for the duration of a `with` block."""

    def __init__(self, cfg, pids, tmp):
        self.cfg, self.pids = cfg, pids
        self.out = os.path.join(tmp, "perf.csv")
        self.proc = None
        self.counts = {}

    def __enter__(self):
        if os.path.exists(self.out):
            os.remove(self.out)
        cmd = ["perf", "stat", "-x,", "-o", self.out, *sum((["-e", e] for e in PERF_EVENTS), []),
               "-p", ",".join(map(str, self.pids))]
        # Pinned with the load generator: perf's own (small) work must not land on the proxy's CPU.
        self.proc = bl.spawn(cmd, self.cfg.load_cpu, self.out + ".log")
        time.sleep(0.3)  # attach before the load starts
        return self

    def __exit__(self, *exc):
        self.proc.send_signal(2)  # SIGINT: perf stat prints its counts and exits
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        bl.stop(self.proc)
        try:
            with open(self.out) as f:
                self.counts = _parse_perf(f.read())
        except OSError:
            self.counts = {}
        return False


# ---------------------------------------------------------------------------------------------
# one measurement


def _cpus(spec):
    """CPU indices of a taskset list such as "0" or "0,2-3"."""
    out = set()
    for part in spec.split(","):
        lo, _, hi = part.partition("-")
        out.update(range(int(lo), int(hi or lo) + 1))
    return out


def _children_ticks():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (ru.ru_utime + ru.ru_stime) * bl.CLK_TCK


def measure(cfg, proxy, others, backend_pids, tmp, use_perf):
    pids = proxy.refresh_pids()
    sys_counts, sys_requests = {}, None
    if cfg.warmup > 0:
        if use_perf and cfg.perf_window == "warmup":
            with PerfStat(cfg, pids, tmp) as perf:
                warm = run_wrk(cfg, proxy.port, cfg.warmup)
            sys_counts, sys_requests = perf.counts, warm["requests"]
        else:
            run_wrk(cfg, proxy.port, cfg.warmup)

    other_before = {o.name: bl.cpu_ticks(o.pids)[0] for o in others}
    busy0, load0, backend0 = bl.cpu_busy_ticks(), _children_ticks(), bl.cpu_ticks(backend_pids)[0]
    t0 = time.monotonic()
    ticks0, _ = bl.cpu_ticks(pids)
    if use_perf and cfg.perf_window == "measure":
        with PerfStat(cfg, pids, tmp) as perf:
            res = run_wrk(cfg, proxy.port, cfg.duration)
        sys_counts, sys_requests = perf.counts, res["requests"]
    else:
        res = run_wrk(cfg, proxy.port, cfg.duration)
    ticks1, gone = bl.cpu_ticks(pids)
    window = (time.monotonic() - t0) * bl.CLK_TCK
    busy1, load1, backend1 = bl.cpu_busy_ticks(), _children_ticks(), bl.cpu_ticks(backend_pids)[0]
    # The machine may be shared (builds, fuzzers): CPU time on our CPUs that none of our processes
    # used is foreign load, which skews requests/s (and caches). Shown per run so it can be judged.
    proxy_cpus, load_cpus = _cpus(cfg.proxy_cpu), _cpus(cfg.load_cpu) | _cpus(cfg.backend_cpu)
    busy = lambda cpus: sum(busy1[c] - busy0[c] for c in cpus if c in busy1)  # noqa: E731
    ours_load = (load1 - load0) + (backend1 - backend0)
    res["foreign_proxy_cpu"] = max(0.0, busy(proxy_cpus) - (ticks1 - ticks0)) / window
    res["foreign_load_cpu"] = max(0.0, busy(load_cpus - proxy_cpus) - ours_load) / window
    if gone:
        bl.log(f"warning: {proxy.name} processes {gone} exited during the round; CPU under-counted")
    res["idle_peer_ticks"] = sum(bl.cpu_ticks(o.pids)[0] - other_before[o.name] for o in others)

    res["cpu_s"] = (ticks1 - ticks0) / bl.CLK_TCK
    res["req_per_cpu_s"] = res["requests"] / res["cpu_s"] if res["cpu_s"] > 0 else None
    res["syscalls"] = res["recvfrom"] = None
    if sys_requests:
        total = sys_counts.get("raw_syscalls:sys_enter")
        recv = sys_counts.get("syscalls:sys_enter_recvfrom")
        res["syscalls"] = total / sys_requests if total is not None else None
        res["recvfrom"] = recv / sys_requests if recv is not None else None
    return res


# ---------------------------------------------------------------------------------------------
# output


def fmt(value, digits=0, suffix=""):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}{suffix}"


FOREIGN_WARN = 0.05  # foreign load (fraction of a CPU) above which a run is flagged


def foreign(r):
    """Foreign load on the proxy CPU / the load CPU, in % of one CPU; '!' when it is large."""
    flag = "!" if max(r["foreign_proxy_cpu"], r["foreign_load_cpu"]) > FOREIGN_WARN else ""
    return f"{r['foreign_proxy_cpu'] * 100:.0f}/{r['foreign_load_cpu'] * 100:.0f}{flag}"


def round_table(results, names):
    lines = ["| proxy | req/s | p50 ms | p99 ms | CPU s | req per CPU-s | syscalls/req | "
             "recvfrom/req | errors | foreign load % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name in names:
        r = results.get(name)
        if r is None:
            continue
        lines.append(f"| {bl.DISPLAY[name]} | {fmt(r['rps'])} | {fmt(r['p50'], 2)} | "
                     f"{fmt(r['p99'], 2)} | {fmt(r['cpu_s'], 2)} | {fmt(r['req_per_cpu_s'])} | "
                     f"{fmt(r['syscalls'], 2)} | {fmt(r['recvfrom'], 2)} | {r['errors']} | "
                     f"{foreign(r)} |")
    return "\n".join(lines)


def ratio_medians(rounds, name, ref, key):
    ratios = []
    for results in rounds:
        a, b = results.get(name), results.get(ref)
        if a and b and a[key] and b[key]:
            ratios.append(a[key] / b[key])
    return bl.median(ratios)


def summary(rounds, names):
    refs = [p for p in PEERS if p in names]
    head = ("| proxy | req/s | req per CPU-s | p50 ms | p99 ms | syscalls/req | recvfrom/req |"
            + "".join(f" req/s ÷ {bl.DISPLAY[r]} | req/CPU-s ÷ {bl.DISPLAY[r]} |" for r in refs))
    lines = [head, "|---|" + "---:|" * (6 + 2 * len(refs))]
    for name in names:
        col = lambda key: bl.median([r[name][key] for r in rounds if name in r])  # noqa: E731
        row = (f"| {bl.DISPLAY[name]} | {fmt(col('rps'))} | {fmt(col('req_per_cpu_s'))} | "
               f"{fmt(col('p50'), 2)} | {fmt(col('p99'), 2)} | {fmt(col('syscalls'), 2)} | "
               f"{fmt(col('recvfrom'), 2)} |")
        for ref in refs:
            if ref == name:
                row += " 1.00 | 1.00 |"
            else:
                row += (f" {fmt(ratio_medians(rounds, name, ref, 'rps'), 2)} |"
                        f" {fmt(ratio_medians(rounds, name, ref, 'req_per_cpu_s'), 2)} |")
        lines.append(row)
    return "\n".join(lines)


def headline(rounds, names):
    subject = "sb" if "sb" in names else ("haproxy" if "haproxy" in names else None)
    out = []
    for ref in PEERS:
        if subject and ref in names and ref != subject:
            rps = ratio_medians(rounds, subject, ref, "rps")
            eff = ratio_medians(rounds, subject, ref, "req_per_cpu_s")
            out.append(f"- **{bl.DISPLAY[subject]} / {bl.DISPLAY[ref]}**: requests per CPU-second "
                       f"**{fmt(eff, 2)}x**, requests/s {fmt(rps, 2)}x "
                       f"(median of {len(rounds)} per-round ratios)")
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------


def main():
    cfg = Config()
    for tool in ("taskset", "wrk", "nginx", "haproxy"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found; run bench/install-bench-deps.sh")
    if os.cpu_count() < 2:
        bl.log("warning: fewer than 2 CPUs; proxy and load cannot be separated")

    per_run = cfg.warmup + cfg.duration + 5
    bl.install_cleanup(max_seconds=120 + cfg.rounds * len(cfg.proxies) * per_run)
    tmp = bl.make_tempdir("sb-bench-")

    use_perf = False
    perf_note = "off (PERF=off)"
    if cfg.perf != "off":
        use_perf, why = perf_works()
        if not use_perf:
            if cfg.perf == "on":
                sys.exit(f"PERF=on but {why}")
            perf_note = f"n/a: {why}"
            bl.log(f"syscalls/request: {perf_note}")
        else:
            perf_note = (f"perf stat over the {cfg.warmup} s warm-up before each round"
                         if cfg.perf_window == "warmup" else "perf stat over the measured window")

    ports = bl.free_ports(3 + len(cfg.proxies))
    backend_ports, proxy_ports = ports[:3], ports[3:]
    backend = bl.start_backends(tmp, backend_ports, cfg.backend_cpu)
    time.sleep(0.2)
    backend_pids = bl.process_tree(backend.pid)
    bl.log(f"backends: nginx on CPU {cfg.backend_cpu}, ports {backend_ports}, path {cfg.path}")

    proxies = []
    for name, port in zip(cfg.proxies, proxy_ports):
        p = bl.start_proxy(name, tmp, port, backend_ports, cfg.proxy_cpu, cfg.path)
        if p:
            bl.log(f"{bl.DISPLAY[name]}: port {port}, pids {p.pids}, CPU {cfg.proxy_cpu}")
            proxies.append(p)
    if not proxies:
        sys.exit("no proxy started")
    names = [p.name for p in proxies]

    rounds = []
    idle_peer_ticks = 0
    for rnd in range(1, cfg.rounds + 1):
        results = {}
        for proxy in proxies:
            others = [o for o in proxies if o is not proxy]
            res = measure(cfg, proxy, others, backend_pids, tmp, use_perf)
            idle_peer_ticks += res["idle_peer_ticks"]
            results[proxy.name] = res
            bl.log(f"round {rnd}/{cfg.rounds} {bl.DISPLAY[proxy.name]:>11}: "
                   f"{fmt(res['rps'])} req/s, {fmt(res['req_per_cpu_s'])} req/CPU-s, "
                   f"p99 {fmt(res['p99'], 2)} ms, {fmt(res['syscalls'], 2)} syscalls/req, "
                   f"foreign load {foreign(res)}"
                   + (f", {res['errors']} ERRORS" if res["errors"] else ""))
        rounds.append(results)

    for p in proxies:  # a 64k body can make nginx spool to disk; that must not pass unnoticed
        if p.name == "nginx" and "temporary file" in bl.tail(p.log_path, 200):
            bl.log("warning: nginx buffered responses to a temporary file (see its error log)")

    versions = {"nginx": bl.tool_version(["nginx", "-v"]),
                "haproxy": bl.tool_version(["haproxy", "-v"]),
                "wrk": bl.tool_version(["wrk", "--version"])}
    body_desc = {"0": f"`return 200` with a {len(bl.SMALL_BODY)}-byte body",
                 "1k": "1 KiB static file", "64k": "64 KiB static file"}[cfg.body]
    md = [f"## Proxy comparison, BODY={cfg.body} ({time.strftime('%Y-%m-%d')})", "",
          f"Machine: {bl.machine_line()}", "",
          f"Method: backends (one nginx, 1 worker, 3 ports, {body_desc}, path `{cfg.path}`) and "
          f"`wrk -t{cfg.wrk_threads} -c{cfg.connections} -d{cfg.duration}s` on CPU "
          f"{cfg.backend_cpu}/{cfg.load_cpu}; each proxy alone on CPU {cfg.proxy_cpu} with one "
          f"worker; {cfg.warmup} s warm-up; {cfg.rounds} interleaved rounds. "
          f"Ratios are medians of per-round ratios. Syscalls: {perf_note}.", "",
          f"Versions: {versions['nginx']}; {versions['haproxy']}; {versions['wrk']}"
          + (f"; switchboard {bl.env_str('SB', bl.DEFAULT_SB)}" if "sb" in names else
             "; switchboard not measured"), ""]
    hl = headline(rounds, names)
    if hl:
        md += [hl, ""]
    md += ["### Summary (medians over rounds)", "", summary(rounds, names), ""]
    for i, results in enumerate(rounds, 1):
        md += [f"### Round {i}", "", round_table(results, names), ""]
    if any(r[n]["errors"] for r in rounds for n in r):
        md += ["**Warning: some runs had socket errors or non-2xx responses (errors column).**", ""]
    if any(max(r[n]["foreign_proxy_cpu"], r[n]["foreign_load_cpu"]) > FOREIGN_WARN
           for r in rounds for n in r):
        md += ["**Warning: other processes used our CPUs during some runs (foreign load column, "
               f"'!' above {FOREIGN_WARN:.0%} of a CPU); requests/s from those runs is suspect, "
               "requests per CPU-second less so.**", ""]
    md += [f"Foreign load: CPU time on the proxy CPU / the wrk+backend CPU used by processes other "
           "than ours, in % of one CPU over the measured window.", ""]
    idle_s = idle_peer_ticks / bl.CLK_TCK
    md += [f"Idle proxies used {idle_s:.2f} CPU-s in total while others were measured.", ""]

    bl.publish(md, cfg.results_dir, "proxy" + ("" if cfg.body == "0" else f"-{cfg.body}"))


if __name__ == "__main__":
    bl.run_main(main)
