#!/usr/bin/env bash
# Google Benchmark figures of the balancing algorithms (bench/pick/pick_bench.cpp): pick cost with
# 3, 100 and 10,000 instances, hash-table build time, keys moved when one of N instances goes,
# and evenness over 1M picks. Builds its own tree (build/bench, SWITCHBOARD_BENCH=ON), runs pinned
# to CPU 1 (CPU=... to change), and keeps the JSON in bench/results/.
# Usage: bench/pick_bench.sh [extra Google Benchmark flags, e.g. --benchmark_filter=pick/]
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release -B build/bench -DSWITCHBOARD_BENCH=ON -DSWITCHBOARD_TESTS=OFF \
  -DSWITCHBOARD_EXAMPLES=OFF >/dev/null
cmake --build build/bench --target pick_bench >/dev/null
mkdir -p bench/results
out="bench/results/$(date -u +%F)-pick.json"
taskset -c "${CPU:-1}" build/bench/pick_bench --benchmark_min_time="${MIN_TIME:-0.5}" \
  --benchmark_out="$out" --benchmark_out_format=json "$@"
echo "written to $out"
