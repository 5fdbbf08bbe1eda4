#!/usr/bin/env bash
# Installs the Debian packages the benchmark scripts need (the list is repeated in bench/README.md).
# Idempotent: when everything is present it costs one dpkg query per package and no apt-get call.
set -euo pipefail

packages=(
  nginx-light   # backends, and nginx as one of the compared proxies
  haproxy       # the other compared proxy
  wrk           # load generator
  linux-perf    # syscalls per request (perf stat on syscall tracepoints); optional: n/a without
  util-linux    # taskset
  procps        # ps/pgrep for poking at runs by hand
  python3       # the harness (/usr/bin/python3, standard library only)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts nginx and haproxy as services on install; the benchmarks run their own copies on
# free ports, and a system copy would only compete for the CPUs being measured.
for svc in nginx haproxy; do
  if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then $SUDO systemctl stop "$svc" || true; fi
  if [ -x "/etc/init.d/$svc" ]; then $SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
done
