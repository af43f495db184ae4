#!/usr/bin/env bash
# Viewer latency through HTTP (issue 7 targets: >= 10 fps while orbiting at 256x256 with progressive rendering,
# a full 512x512 frame <= 0.5 s when still, click -> overlay <= 150 ms). Starts `semfield serve` on a run (or makes
# the small synthetic one the tests use), then times with Node's fetch:
#   - orbit: 24 frames on a small arc around the orbit centre at 64/96/128/256/512 pixels (rgb, exact and
#     preview renders; then with a mask overlay following a selection), each frame a new camera, one request at
#     a time as the page sends them;
#   - still: a 512x512 frame of a new camera (exact and preview), then the same camera again (the frame cache);
#   - click: /api/click on a prepared 256x256 view (the page prepares a still view before the click), and on an
#     unprepared one.
# Usage: bash bench/serve_bench.sh WORK_DIR [RUN_DIR]     SEMFIELD_BIN names the CLI (default build/semfield).
set -euo pipefail
work=$1
run=${2:-}
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
if [ -z "$run" ]; then
  run=$work/run
  if [ ! -f "$run/distill/labels-instance/checkpoint.ckpt" ]; then
    "$bin" synth --out "$work/scene" --res 64 --views 24 --objects 4 --seed 3 >/dev/null
    echo '{"train": {"target_samples": 65536}}' >"$work/config.json"
    "$bin" train --data "$work/scene" --out "$run" --steps 400 --time-budget 150 --config "$work/config.json" |
      tail -1
    "$bin" distill --run "$run" --teacher labels:instance --steps 200 --time-budget 120 | tail -1
  fi
fi

"$bin" serve --run "$run" --port 0 >"$work/server.log" 2>&1 &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null || true' EXIT
port=
for _ in $(seq 1 300); do
  port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.log" | head -1)
  [ -n "$port" ] && break
  sleep 0.2
done
[ -n "$port" ] || { cat "$work/server.log" >&2; exit 1; }

SERVE_URL="http://127.0.0.1:$port" node - <<'EOF'
const base = process.env.SERVE_URL;
const post = async (path, body) => {
  const start = performance.now();
  const response = await fetch(base + path, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body) });
  const data = await response.json();
  if (!response.ok) throw new Error(`${path}: ${data.error}`);
  return { data, ms: performance.now() - start };
};
// The dataset camera rotated by `angle` radians about the vertical axis through the orbit centre.
const orbit = (camera, centre, up, angle) => {
  const m = camera.c2w, c = Math.cos(angle), s = Math.sin(angle), [ux, uy, uz] = up;
  const rot = (v) => {  // Rodrigues about `up`
    const d = ux * v[0] + uy * v[1] + uz * v[2];
    const cr = [uy * v[2] - uz * v[1], uz * v[0] - ux * v[2], ux * v[1] - uy * v[0]];
    return [0, 1, 2].map((i) => v[i] * c + cr[i] * s + up[i] * d * (1 - c));
  };
  const cols = [0, 1, 2].map((j) => rot([m[j], m[4 + j], m[8 + j]]));
  const p = rot([m[3] - centre[0], m[7] - centre[1], m[11] - centre[2]]).map((v, i) => v + centre[i]);
  return { ...camera, c2w: [cols[0][0], cols[1][0], cols[2][0], p[0], cols[0][1], cols[1][1], cols[2][1], p[1],
    cols[0][2], cols[1][2], cols[2][2], p[2], 0, 0, 0, 1] };
};
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

(async () => {
  const info = await (await fetch(base + '/api/info')).json();
  const record = info.cameras[0];
  const at = (angle, size) => ({ ...orbit(record.camera, info.centre, info.up, angle), width: size, height: size });
  let seq = 0;
  const rows = [];
  const orbitRun = async (session, size, label, render) => {
    const server = [], trip = [];
    for (let i = 0; i < 24; i++) {
      const { data, ms } = await post('/api/frame', { session, seq: ++seq, mode: 'rgb', quality: 'coarse', render,
        camera: at(0.01 * i + (render === 'preview' ? 0.5 : 0), size) });
      server.push(data.ms); trip.push(ms);
    }
    rows.push({ test: `orbit ${label}`, size, server_ms: mean(server), round_trip_ms: mean(trip), fps: 1000 / mean(trip) });
  };
  for (const size of [64, 96, 128, 256, 512]) await orbitRun('bench', size, 'rgb', 'exact');
  for (const size of [64, 128, 256, 512]) await orbitRun('bench', size, 'rgb preview', 'preview');

  // Still frames: a fresh camera, then the same one again.
  const still = at(1.0, 512);
  const first = await post('/api/frame', { session: 'bench', seq: ++seq, mode: 'rgb', camera: still });
  const again = await post('/api/frame', { session: 'bench', seq: ++seq, mode: 'rgb', camera: still });
  rows.push({ test: 'still 512 (new camera)', size: 512, server_ms: first.data.ms, round_trip_ms: first.ms });
  rows.push({ test: 'still 512 (cached)', size: 512, server_ms: again.data.ms, round_trip_ms: again.ms });
  const previewed = await post('/api/frame', { session: 'bench', seq: ++seq, mode: 'rgb', camera: at(1.05, 512),
    render: 'preview' });
  rows.push({ test: 'still 512 preview (new camera)', size: 512, server_ms: previewed.data.ms,
    round_trip_ms: previewed.ms });
  for (const mode of ['depth', 'labels', 'pca']) {
    try {
      const r = await post('/api/frame', { session: 'bench', seq: ++seq, mode, camera: at(1.1, 512) });
      rows.push({ test: `still 512 ${mode}`, size: 512, server_ms: r.data.ms, round_trip_ms: r.ms });
    } catch (e) { rows.push({ test: `still 512 ${mode}`, error: e.message }); }
  }

  // Clicks at the centre of the first dataset view (256x256), prepared and not.
  const view = at(0, 256);
  const prep = await post('/api/prepare', { session: 'clicker', camera: view });
  const clicks = [];
  for (let i = 0; i < 5; i++) {
    const r = await post('/api/click', { session: 'clicker', camera: view, positive: [[128 + i, 128]] });
    clicks.push(r.ms);
  }
  rows.push({ test: 'prepare 256', size: 256, server_ms: prep.data.ms, round_trip_ms: prep.ms });
  rows.push({ test: 'click 256 (prepared view)', size: 256, round_trip_ms: mean(clicks) });
  const cold = await post('/api/click', { session: 'clicker', camera: at(0.3, 256), positive: [[128, 128]] })
    .catch((e) => ({ ms: NaN, error: e.message }));
  rows.push({ test: 'click 256 (unprepared view)', size: 256, round_trip_ms: cold.ms, error: cold.error });
  // Orbiting with the selection's mask following the camera (quick overlay from the frame's own depth).
  for (const [size, render] of [[64, 'exact'], [96, 'exact'], [128, 'exact'], [128, 'preview'], [256, 'preview']]) {
    const server = [], trip = [];
    for (let i = 1; i <= 12; i++) {
      const { data, ms } = await post('/api/frame', { session: 'clicker', seq: ++seq, mode: 'rgb', quality: 'coarse',
        render, camera: at(0.01 * i + (render === 'preview' ? 0.5 : 0), size) });
      server.push(data.ms); trip.push(ms);
    }
    rows.push({ test: `orbit rgb${render === 'preview' ? ' preview' : ''} + followed mask`, size,
      server_ms: mean(server), round_trip_ms: mean(trip), fps: 1000 / mean(trip) });
  }
  for (const r of rows)
    console.log(`${r.test.padEnd(30)} ${String(r.size || '').padStart(4)}  server ${r.server_ms !== undefined ? r.server_ms.toFixed(1).padStart(7) : '      -'} ms` +
      `  round trip ${r.round_trip_ms !== undefined ? r.round_trip_ms.toFixed(1).padStart(7) : '      -'} ms` +
      (r.fps ? `  ${r.fps.toFixed(1)} fps` : '') + (r.error ? `  error: ${r.error}` : ''));
})().catch((e) => { console.error(e); process.exit(1); });
EOF
