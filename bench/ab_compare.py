#!/usr/bin/python3
"""A/B of two switchboard binaries on the DESIGN.md set-up: both run side by side (one worker
each on CPU 1, backends and wrk on CPU 0), alternating rounds of `wrk -t1 -c64`, requests per
CPU-second from /proc for each round. For checking that a change to the request path costs
nothing, when the machine has no hardware counters for instructions per request.

Usage: bench/ab_compare.py OLD_BINARY NEW_BINARY [MORE...]
       (ROUNDS=6, DURATION=5, BODY=0|1k|64k as in proxy_compare.sh, in the environment)
A binary may be a wrapper script that execs switchboard (to compare settings of one build).
"""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
from proxy_compare import parse_wrk  # noqa: E402


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binaries = {chr(ord("A") + i): os.path.abspath(path) for i, path in enumerate(sys.argv[1:])}
    rounds, duration = bl.env_int("ROUNDS", 6), bl.env_int("DURATION", 5)
    request_path = bl.BODY_PATHS[bl.env_str("BODY", "0")]
    bl.install_cleanup(max_seconds=60 + rounds * len(binaries) * (duration + 4))
    tmp = bl.make_tempdir("sb-ab-")
    ports = bl.free_ports(3 + len(binaries))
    bl.start_backends(tmp, ports[:3], "0")
    time.sleep(0.3)
    procs = {}
    for (name, path), port in zip(binaries.items(), ports[3:]):
        proc, log = bl.start_switchboard(tmp, port, ports[:3], "1", path, ["--admin-listen", "off"])
        reason = bl.wait_http(proc, port, "/", 200)
        if reason:
            sys.exit(f"{name} ({path}): {reason}\n{bl.tail(log)}")
        procs[name] = (proc, port)
    results = {name: [] for name in binaries}
    rates = {name: [] for name in binaries}
    p99s = {name: [] for name in binaries}
    for rnd in range(1, rounds + 1):
        for name, (proc, port) in procs.items():
            url = f"http://127.0.0.1:{port}{request_path}"
            subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c64", "-d2s", url],
                           capture_output=True)  # warm-up
            t0 = bl.cpu_ticks([proc.pid])[0]
            out = subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c64", "--latency",
                                  f"-d{duration}s", url],
                                 capture_output=True, text=True).stdout
            cpu = (bl.cpu_ticks([proc.pid])[0] - t0) / bl.CLK_TCK
            requests = int(re.search(r"(\d+) requests in", out).group(1))
            results[name].append(requests / cpu)
            rates[name].append(requests / duration)
            p99s[name].append(parse_wrk(out)["p99"])
            bl.log(f"round {rnd}/{rounds} {name}: {requests / cpu:,.0f} requests per CPU-second, "
                   f"{requests / duration:,.0f} requests/s")
    for name, path in binaries.items():
        values = ", ".join(f"{v / 1000:.1f}k" for v in results[name])
        print(f"{name} {path}: median {bl.median(results[name]):,.0f} req/CPU-s ({values}), "
              f"median {bl.median(rates[name]):,.0f} req/s, median p99 {bl.median(p99s[name]):.2f} ms")


if __name__ == "__main__":
    bl.run_main(main)
