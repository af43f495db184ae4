#!/usr/bin/env bash
# Browser test of `semfield serve` (CTest label "browser"): makes a small trained scene with the CLI, starts the
# server on a free port, runs viewer_test.js in headless Debian chromium, and stops the server.
# Usage: run.sh SEMFIELD_CLI [WORK_DIR]   (WORK_DIR is kept when given; a temporary one is removed otherwise)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cli=$1
work=${2:-}
if [ -z "$work" ]; then
  work=$(mktemp -d)
  trap 'stop_server; rm -rf "$work"' EXIT
else
  mkdir -p "$work"
  trap 'stop_server' EXIT
fi
server_pid=
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -INT "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}

if [ ! -x /usr/bin/chromium ]; then
  echo "run.sh: /usr/bin/chromium is missing (scripts/setup.sh installs Debian's chromium)" >&2
  exit 1
fi
if [ ! -d "$here/node_modules/playwright-core" ]; then
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

scene=$work/scene
run=$work/run
if [ ! -f "$run/distill/labels-instance/checkpoint.ckpt" ]; then
  "$cli" synth --out "$scene" --res 64 --views 24 --objects 4 --seed 3 >/dev/null
  echo '{"train": {"target_samples": 65536}}' >"$work/config.json"
  "$cli" train --data "$scene" --out "$run" --steps 300 --time-budget 90 --config "$work/config.json" >/dev/null
  "$cli" distill --run "$run" --teacher labels:instance --steps 150 --time-budget 60 >/dev/null
fi

"$cli" serve --run "$run" --port 0 >"$work/server.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.log" | head -1)
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.2
done
[ -n "$port" ] || { echo "run.sh: the server did not start" >&2; cat "$work/server.log" >&2; exit 1; }

node "$here/viewer_test.js" --url "http://127.0.0.1:$port/" --scene "$scene" --out "$work/out"
