#!/usr/bin/env bash
# Builds one CMake preset (default: release) with Ninja and ccache.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" "$@"
