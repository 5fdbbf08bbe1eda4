#!/usr/bin/python3
"""The proxy's request rate with each balancing algorithm against round_robin, on the DESIGN.md
method of proxy_compare.py: one switchboard per algorithm, each with one worker on CPU 1, the
backends and `wrk -t1 -c64` on CPU 0, rounds interleaved across the algorithms, the median of
per-round ratios to round_robin. Issue 4's bar: no algorithm costs more than 5 %.

hash hashes the path (every request is `/`, so one instance takes them all) and ip_hash the client
address (all 127.0.0.1): the pick's cost is what is measured, not the spread.
Knobs (environment): ALGORITHMS, ROUNDS (5), DURATION (10), WARMUP (2), CONNECTIONS (64), SB.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import proxy_compare as pc  # noqa: E402

DEFAULT = "round_robin least_conn ip_hash hash random p2c ewma"


def write_config(tmp, name, port, backends):
    hash_section = "    hash: { key: path }\n" if name == "hash" else ""
    instances = ", ".join(f'"127.0.0.1:{p}"' for p in backends)
    path = os.path.join(tmp, f"{name}.yaml")
    with open(path, "w") as f:
        f.write(f"listen: 127.0.0.1:{port}\nadmin: off\nthreads: 1\n"
                "access_log: off\n"
                f"services:\n  - name: web\n    balance: {name}\n    instances: [{instances}]\n"
                + hash_section)
    return path


def start(tmp, name, port, backends, cfg):
    sb = os.path.abspath(bl.env_str("SB", bl.DEFAULT_SB))
    conf = write_config(tmp, name, port, backends)
    log_path = os.path.join(tmp, f"{name}.log")
    proc = bl.spawn([sb, "serve", "--config", conf], cfg.proxy_cpu, log_path, cwd=tmp)
    reason = bl.wait_http(proc, port, cfg.path, 200)
    if reason:
        bl.stop(proc)
        sys.exit(f"{name}: {reason}\n{bl.tail(log_path)}")
    proxy = bl.Proxy(name, port, proc, log_path)
    time.sleep(0.2)
    proxy.refresh_pids()
    return proxy


def main():
    cfg = pc.Config()
    algorithms = bl.env_str("ALGORITHMS", DEFAULT).replace(",", " ").split()
    if algorithms[0] != "round_robin":
        algorithms.insert(0, "round_robin")
    per_run = cfg.warmup + cfg.duration + 5
    bl.install_cleanup(max_seconds=120 + cfg.rounds * len(algorithms) * per_run)
    tmp = bl.make_tempdir("sb-balance-")
    ports = bl.free_ports(3 + len(algorithms))
    backend = bl.start_backends(tmp, ports[:3], cfg.backend_cpu)
    time.sleep(0.2)
    backend_pids = bl.process_tree(backend.pid)
    proxies = [start(tmp, a, p, ports[:3], cfg) for a, p in zip(algorithms, ports[3:])]

    rounds = []
    for rnd in range(1, cfg.rounds + 1):
        results = {}
        for proxy in proxies:
            others = [o for o in proxies if o is not proxy]
            res = pc.measure(cfg, proxy, others, backend_pids, tmp, False)
            results[proxy.name] = res
            bl.log(f"round {rnd}/{cfg.rounds} {proxy.name:>11}: {pc.fmt(res['rps'])} req/s, "
                   f"{pc.fmt(res['req_per_cpu_s'])} req/CPU-s, foreign load {pc.foreign(res)}"
                   + (f", {res['errors']} ERRORS" if res["errors"] else ""))
        rounds.append(results)

    lines = ["| algorithm | req/s | req per CPU-s | p99 ms | req/s ÷ round_robin | "
             "req/CPU-s ÷ round_robin | errors |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name in algorithms:
        col = lambda key: bl.median([r[name][key] for r in rounds])  # noqa: E731
        lines.append(f"| {name} | {pc.fmt(col('rps'))} | {pc.fmt(col('req_per_cpu_s'))} | "
                     f"{pc.fmt(col('p99'), 2)} | "
                     f"{pc.fmt(pc.ratio_medians(rounds, name, 'round_robin', 'rps'), 3)} | "
                     f"{pc.fmt(pc.ratio_medians(rounds, name, 'round_robin', 'req_per_cpu_s'), 3)}"
                     f" | {sum(r[name]['errors'] for r in rounds)} |")
    md = [f"## Balancing algorithms against round_robin ({time.strftime('%Y-%m-%d')})", "",
          f"Machine: {bl.machine_line()}", "",
          f"Method: backends (one nginx, 3 ports) and `wrk -t{cfg.wrk_threads} "
          f"-c{cfg.connections} -d{cfg.duration}s` on CPU {cfg.load_cpu}; one switchboard per "
          f"algorithm, one worker, on CPU {cfg.proxy_cpu}; {cfg.warmup} s warm-up; {cfg.rounds} "
          "rounds interleaved across algorithms; ratios are medians of per-round ratios. hash "
          "hashes the path and ip_hash the client address (one key each here).", "",
          "\n".join(lines), ""]
    bl.publish(md, cfg.results_dir, "balance")


if __name__ == "__main__":
    bl.run_main(main)
