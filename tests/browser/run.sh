#!/usr/bin/env bash
# Browser test of `semfield serve` (CTest label "browser"): makes a small trained scene with the CLI, starts the
# server on a free port, runs viewer_test.js in headless Debian chromium, and stops the server.
# Usage: run.sh SEMFIELD_CLI [WORK_DIR]   (WORK_DIR is kept when given; a temporary one is removed otherwise)
# With SEMFIELD_E2E_FIXTURE set (by CTest) it serves a copy of the end-to-end tests' trained scene instead of
# training one.
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
  echo "run.sh: $here/node_modules is missing: run scripts/setup.sh --tests (it runs npm ci there)" >&2
  exit 1
fi

scene=$work/scene
run=$work/run
if [ -n "${SEMFIELD_E2E_FIXTURE:-}" ]; then
  # The trained scene of the end-to-end tests (the e2e_fixture CTest fixture): its scene, a copy of its run.
  [ -f "$SEMFIELD_E2E_FIXTURE/fixture_complete.json" ] || { echo "run.sh: the e2e fixture is incomplete" >&2; exit 1; }
  scene=$SEMFIELD_E2E_FIXTURE/scene
  rm -rf "$run"
  cp -r "$SEMFIELD_E2E_FIXTURE/run" "$run"
elif [ ! -f "$run/distill/labels-instance/checkpoint.ckpt" ]; then
  "$cli" synth --out "$scene" --res 64 --views 24 --objects 4 --seed 3 >/dev/null
  echo '{"train": {"target_samples": 65536}}' >"$work/config.json"
  "$cli" train --data "$scene" --out "$run" --steps 400 --config "$work/config.json" >/dev/null
  "$cli" distill --run "$run" --teacher labels:instance --steps 200 >/dev/null
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
