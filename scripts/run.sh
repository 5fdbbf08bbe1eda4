#!/usr/bin/env bash
# The main job: installs what is missing, builds, and starts the whole demo: switchboard with its
# embedded registry (proxy :8090, admin :8091), three static nginx backends, a Redis, and three
# patch runners that register themselves; then says what to try. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh
bash scripts/build.sh release
bin=$root/build/release

mkdir -p run
pids=()
stop_all() {
  kill "${pids[@]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop_all EXIT INT TERM

# Demo backends: one nginx answering on three ports, each saying which one it is.
cat > run/backends.conf <<CONF
worker_processes 1;
daemon off;
pid $root/run/backends.pid;
error_log $root/run/backends.error.log;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $root/run;
  server { listen 127.0.0.1:9101; location / { add_header X-Backend demo-1; return 200 "hello from demo-1\n"; } }
  server { listen 127.0.0.1:9102; location / { add_header X-Backend demo-2; return 200 "hello from demo-2\n"; } }
  server { listen 127.0.0.1:9103; location / { add_header X-Backend demo-3; return 200 "hello from demo-3\n"; } }
}
CONF
nginx -p "$root/run" -c "$root/run/backends.conf" -e "$root/run/backends.error.log" &
pids+=($!)
redis-server --port 6390 --bind 127.0.0.1 --save '' --appendonly no >run/redis.log 2>&1 &
pids+=($!)

"$bin/switchboard" serve --config examples/demo.yaml --admin-listen 127.0.0.1:8091 \
  --data-dir run/data 2> >(tee run/switchboard.log >&2) &
proxy=$!
pids+=($proxy)
for _ in $(seq 100); do
  curl -fsS -o /dev/null http://127.0.0.1:8090/lb-health 2>/dev/null && break
  kill -0 $proxy 2>/dev/null || { echo "switchboard did not start: see run/switchboard.log"; exit 1; }
  sleep 0.1
done

# The runners share one directory of tasks and documents (their per-file lock works across
# processes); each registers itself as service "runner" with the route /run-patch.
mkdir -p run/runner-root
cp -r examples/tasks examples/docs run/runner-root/
for port in 9201 9202 9203; do
  "$bin/examples/runner" --listen 127.0.0.1:$port --id runner-$port --root run/runner-root \
    --admin 127.0.0.1:8091 --redis 127.0.0.1:6390 2>run/runner-$port.log &
  pids+=($!)
done
for _ in $(seq 100); do
  [ "$("$bin/switchboard" instances runner --json 2>/dev/null | grep -o '"passing"' | wc -l)" = 3 ] && break
  sleep 0.1
done

cat <<MSG

Switchboard is running: proxy http://127.0.0.1:8090, registry admin http://127.0.0.1:8091.
Three nginx demo backends (static config, 9101-9103) and three patch runners (registered, 9201-9203).
Live dashboard: http://127.0.0.1:8091/   (Prometheus metrics: http://127.0.0.1:8091/metrics)

  build/release/switchboard services                  # services with passing/total instances
  build/release/switchboard instances runner          # the three runners, their state and heartbeats
  for i in \$(seq 30); do curl -s -X POST http://127.0.0.1:8090/run-patch -d '{"file": "tasks/add-item.json"}' \\
    | grep -o '"instance":"[^"]*"'; done | sort | uniq -c          # 10/10/10 over the runners
  build/release/examples/relay --admin 127.0.0.1:8091 --file tasks/set-owner.json --count 30   # client-side round robin
  build/release/switchboard drain runner runner-9201  # no new requests for it; try the loop again
  build/release/switchboard undrain runner runner-9201
  build/release/switchboard call runner /health       # resolve through the registry, call directly
  build/release/switchboard status                    # the proxy's services and instances, as a table
  curl http://127.0.0.1:8090/                         # the static demo backends, round robin
  curl 'http://127.0.0.1:8090/lb-status?format=json'  # per-instance counts
  tail -f run/access.log                              # one JSON line per request

Press Ctrl-C to stop.
MSG
wait $proxy
