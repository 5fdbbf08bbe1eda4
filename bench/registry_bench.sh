#!/usr/bin/env bash
# Registry benchmarks (issue 3): propagation latency of registry changes to the proxy, heartbeat
# and registration throughput on one core, proxy rate with 10,000 registered instances.
# The work is done by registry_bench.py; this wrapper fixes the interpreter (/usr/bin/python3, no
# virtualenv) and PATH, and exec's so that Ctrl-C / SIGTERM reach the script that owns the cleanup.
# Knobs (environment): see bench/README.md. Example: DURATION=2 ROUNDS=1 N=50 bench/registry_bench.sh
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
exec /usr/bin/python3 "$(dirname "$(readlink -f "$0")")/registry_bench.py" "$@"
