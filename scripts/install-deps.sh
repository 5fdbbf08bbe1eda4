#!/usr/bin/env bash
# Installs the Debian packages that building, running and testing Switchboard need.
# Idempotent: packages already present are skipped, so a second run costs one dpkg query.
set -euo pipefail

packages=(
  # build
  cmake ninja-build ccache g++ clang-14 libclang-rt-14-dev pkg-config
  libboost1.81-dev node-llhttp libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  nlohmann-json3-dev libsqlite3-dev libhiredis-dev
  # tests and benchmarks
  liburing-dev
  libgtest-dev libgmock-dev libbenchmark-dev clang-format-14
  nginx-light haproxy wrk curl procps util-linux python3-websockets python3-pytest python3-pytest-xdist
  linux-perf redis-server
  prometheus  # promtool checks the /metrics output
  chromium    # the dashboard test drives a headless browser
  etcd-server etcd-client  # cluster mode tests and benchmarks run real etcd members
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
# Debian starts the nginx, haproxy, redis and etcd services on install; tests run their own copies
# on ephemeral ports.
for svc in nginx haproxy redis-server prometheus etcd; do
  if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then $SUDO systemctl stop "$svc" || true; fi
  if [ -x "/etc/init.d/$svc" ]; then $SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true; fi
done
