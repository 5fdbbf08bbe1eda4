#!/usr/bin/env bash
# Cluster mode benchmarks (issue 6): cross-node propagation latency through etcd, heartbeat
# throughput against etcd, and the time a node takes to read 10,000 instances from etcd.
# The work is done by cluster_bench.py; this wrapper fixes the interpreter (/usr/bin/python3, no
# virtualenv) and PATH, and exec's so that Ctrl-C / SIGTERM reach the script that owns the cleanup.
# Knobs (environment): see the docstring of cluster_bench.py. Example: N=50 INSTANCES=1000 bench/cluster_bench.sh
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
exec /usr/bin/python3 "$(dirname "$(readlink -f "$0")")/cluster_bench.py" "$@"
