#!/usr/bin/env bash
# Memory per idle keep-alive connection of switchboard, nginx and HAProxy (see idle_connections.py).
# The open-file limit is raised here, before anything starts, because both the client side (this
# script's python helper) and the proxies it launches inherit it, and each needs one fd per
# connection (the proxies also need their upstream sockets).
# Knobs (environment): N (default 10000), PROXIES, REQ_PATH, SETTLE, SB, SB_ARGS; see bench/README.md.
set -euo pipefail
export PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:$PATH"
n="${N:-10000}"
# Each process has its own limit, so N + headroom is enough for every one of them. The hard limit
# can only be raised with CAP_SYS_RESOURCE (containers often drop it); then the soft limit goes up
# to the hard one, which is enough as long as it exceeds N plus headroom.
want=$(( n * 2 + 4096 ))  # HAProxy would like 2 per connection; the others need N + a few
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || want=$hard
fi
ulimit -Sn "$want"
if [ "$want" -lt $(( n + 512 )) ]; then
  echo "open-file hard limit is $want, too low for N=$n (needs about $(( n + 512 ))); lower N or" \
       "run with CAP_SYS_RESOURCE" >&2
  exit 1
fi
exec /usr/bin/python3 "$(dirname "$(readlink -f "$0")")/idle_connections.py" "$@"
