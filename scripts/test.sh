#!/usr/bin/env bash
# Runs every test: unit tests (release and ASan+UBSan builds), the integration suite against the
# real binary with real backends and clients, and a short libFuzzer run over the request parser.
# Usage: scripts/test.sh            (everything)
#        QUICK=1 scripts/test.sh    (skip the sanitizer build and the fuzz run)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

# Every runner's output also goes to a log, from which the closing tally is counted.
log=$(mktemp)
cleanup() { rm -f "$log"; }
trap cleanup EXIT
run() { "$@" 2>&1 | tee -a "$log"; }

echo "== build (release)"
bash scripts/build.sh release
echo "== unit tests (release)"
run ctest --preset release

echo "== integration tests (real switchboard, nginx, curl, websockets)"
SWITCHBOARD_BIN="$root/build/release/switchboard" run /usr/bin/python3 -m pytest -n 2 -q tests/integration

if [ "${QUICK:-0}" != 1 ]; then
  echo "== build (ASan + UBSan, clang)"
  bash scripts/build.sh asan
  echo "== unit tests (ASan + UBSan)"
  run ctest --preset asan
  echo "== integration tests against the ASan + UBSan binary (fast ones)"
  SWITCHBOARD_BIN="$root/build/asan/switchboard" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    run /usr/bin/python3 -m pytest -n 2 -q -m "not slow" tests/integration
  echo "== fuzz (libFuzzer, ${FUZZ_SECONDS:-30}s per target)"
  bash scripts/build.sh fuzz
  corpus=$(mktemp -d)  # libFuzzer adds what it finds; the committed seeds stay as they are
  cleanup() { rm -rf "$log" "$corpus"; }
  for target in build/fuzz/fuzz_*; do
    [ -x "$target" ] || continue
    rm -rf "${corpus:?}"/* && cp tests/fuzz/corpus/* "$corpus"/
    "$target" -max_total_time="${FUZZ_SECONDS:-30}" -artifact_prefix=build/fuzz/ "$corpus" 2>&1 | tail -1
  done
fi
passed=$(grep -hoE '([0-9]+) passed|tests passed, [0-9]+ tests failed out of ([0-9]+)' "$log" |
  grep -oE '[0-9]+$|^[0-9]+' | awk '{s += $1} END {print s + 0}')
echo "== all tests passed"
echo "tests: $passed passed, 0 failed"
