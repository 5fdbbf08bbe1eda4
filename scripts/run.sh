#!/usr/bin/env bash
# The main job: installs what is missing, builds, starts three demo backends and switchboard in
# front of them, and says where to look. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

bash scripts/install-deps.sh
bash scripts/build.sh release

mkdir -p run
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
backends=$!
build/release/switchboard serve --config examples/demo.yaml 2> >(tee run/switchboard.log >&2) &
proxy=$!
trap 'kill $proxy $backends 2>/dev/null; wait 2>/dev/null' EXIT INT TERM

for _ in $(seq 100); do
  curl -fsS -o /dev/null http://127.0.0.1:8090/lb-health 2>/dev/null && break
  kill -0 $proxy 2>/dev/null || { echo "switchboard did not start: see run/switchboard.log"; exit 1; }
  sleep 0.1
done

cat <<MSG

Switchboard is running on http://127.0.0.1:8090 in front of three demo backends (9101-9103).

  curl http://127.0.0.1:8090/                       # round robin: demo-1, demo-2, demo-3, ...
  for i in \$(seq 30); do curl -s http://127.0.0.1:8090/; done | sort | uniq -c   # 10/10/10
  curl http://127.0.0.1:8090/lb-status               # nginx stub_status format
  curl 'http://127.0.0.1:8090/lb-status?format=json' # per-instance counts
  tail -f run/access.log                             # one JSON line per request

Press Ctrl-C to stop.
MSG
wait $proxy
