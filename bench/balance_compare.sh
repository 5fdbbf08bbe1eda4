#!/usr/bin/env bash
# Request rate of the proxy with each balancing algorithm against round_robin; the work is done by
# balance_compare.py (same interpreter and PATH rules as proxy_compare.sh).
# Knobs (environment): ALGORITHMS, ROUNDS, DURATION, ... Example: DURATION=3 ROUNDS=2 bench/balance_compare.sh
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
exec /usr/bin/python3 "$(dirname "$(readlink -f "$0")")/balance_compare.py" "$@"
