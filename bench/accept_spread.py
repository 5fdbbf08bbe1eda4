#!/usr/bin/python3
"""How evenly new connections reach the workers: switchboard with --threads 2 under each
accept_balance (kernel: one SO_REUSEPORT socket per worker, the kernel hashes; exact: one socket,
each connection to the worker with the fewest), counted from /lb-status?format=json
(workers[].accepted) after
  - keep-alive load: RUNS x `wrk -t1 -c64 -d1s` (64 long connections each run);
  - short connections: SHORT sequential connections of one request each.
Usage: bench/accept_spread.py [SB_BINARY]   (RUNS=3, SHORT=3000 in the environment)
"""

import json
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def accepted(port):
    status, body = bl.http_get(port, "/lb-status?format=json")
    if status != 200:
        raise RuntimeError(f"/lb-status answered {status}: {body[:100]!r}")
    return [w["accepted"] for w in json.loads(body)["workers"]]


def short_connections(port, count):
    request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for _ in range(count):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(request)
            while s.recv(65536):
                pass


def spread(counts):
    total = sum(counts)
    shares = " / ".join(f"{c:,} ({100 * c / total:.1f} %)" for c in counts)
    return f"{shares}; largest share {100 * max(counts) / total:.1f} %"


def main():
    sb = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else bl.DEFAULT_SB)
    runs, short = bl.env_int("RUNS", 3), bl.env_int("SHORT", 3000)
    bl.install_cleanup(max_seconds=300)
    tmp = bl.make_tempdir("sb-spread-")
    ports = bl.free_ports(5)
    bl.start_backends(tmp, ports[:3], "0")
    lines = [f"Machine: {bl.machine_line()}", f"Binary: {sb}", ""]
    lines.append("| accept_balance | keep-alive: connections per worker | short: connections per "
                 "worker |")
    lines.append("|---|---|---|")
    for mode, port in zip(("kernel", "exact"), ports[3:]):
        log = os.path.join(tmp, f"switchboard-{mode}.log")
        proc = bl.spawn([sb, "serve", "--listen", f"127.0.0.1:{port}", "--backends",
                         ",".join(f"127.0.0.1:{p}" for p in ports[:3]), "--threads", "2",
                         "--accept-balance", mode, "--access-log", "off", "--admin-listen", "off"],
                        None, log, cwd=tmp)
        reason = bl.wait_http(proc, port, "/", 200)
        if reason:
            sys.exit(f"{mode}: {reason}\n{bl.tail(log)}")
        before = accepted(port)
        for _ in range(runs):
            subprocess.run(["taskset", "-c", "0", "wrk", "-t1", "-c64", "-d1s",
                            f"http://127.0.0.1:{port}/"], capture_output=True, check=True)
        after_keepalive = accepted(port)
        short_connections(port, short)
        after_short = accepted(port)
        # Each /lb-status read is a connection too: one per reading, on some worker.
        keepalive = [a - b for a, b in zip(after_keepalive, before)]
        shorts = [a - b for a, b in zip(after_short, after_keepalive)]
        lines.append(f"| {mode} | {spread(keepalive)} | {spread(shorts)} |")
        bl.stop(proc)
    lines += ["", f"Keep-alive: {runs} x `wrk -t1 -c64 -d1s` ({runs * 64} connections); short: "
              f"{short:,} sequential connections of one request; each /lb-status reading adds "
              "one connection to one worker."]
    print("\n".join(lines))


if __name__ == "__main__":
    bl.run_main(main)
