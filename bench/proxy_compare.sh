#!/usr/bin/env bash
# Data-plane comparison of switchboard, nginx and HAProxy
# (DESIGN.md, "How performance is measured").
# The work is done by proxy_compare.py; this wrapper fixes the interpreter (/usr/bin/python3, no
# virtualenv) and PATH, and exec's so that Ctrl-C / SIGTERM reach the script that owns the cleanup.
# Knobs (environment): see bench/README.md. Example: DURATION=3 ROUNDS=2 bench/proxy_compare.sh
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
exec /usr/bin/python3 "$(dirname "$(readlink -f "$0")")/proxy_compare.py" "$@"
