#!/usr/bin/env bash
# How close switchboard is to the floor of this machine: bench/floor/relay_floor (a byte relay on
# the proxy's ring set-up that does no HTTP work) side by side with switchboard, in the DESIGN.md
# set-up (bench/ab_compare.py: CPU 1 for the proxies, wrk and the backends on CPU 0, interleaved
# rounds). The relay runs with plain receives and with multishot receives (RELAY_MULTISHOT=1).
# The floor's own ratio to nginx and HAProxy (the most a proxy on this ring set-up could show):
# `SB=build/bench/relay_floor bench/proxy_compare.sh` after this has built it.
# Usage: bench/floor_compare.sh   (ROUNDS, DURATION, BODY as for ab_compare.py)
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --preset release -B build/bench -DSWITCHBOARD_BENCH=ON -DSWITCHBOARD_TESTS=OFF \
  -DSWITCHBOARD_EXAMPLES=OFF >/dev/null
cmake --build build/bench --target relay_floor switchboard >/dev/null
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
printf '#!/bin/sh\nexec %s "$@"\n' "$PWD/build/bench/relay_floor" >"$dir/relay-plain"
printf '#!/bin/sh\nRELAY_MULTISHOT=1 exec %s "$@"\n' "$PWD/build/bench/relay_floor" >"$dir/relay-multishot"
chmod +x "$dir/relay-plain" "$dir/relay-multishot"
/usr/bin/python3 bench/ab_compare.py build/bench/switchboard "$dir/relay-plain" "$dir/relay-multishot"
