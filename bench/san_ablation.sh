#!/usr/bin/env bash
# SAN's ablation of camera augmentation and the feature cache (section 4.3), with the built-in descriptor
# teacher on a generated scene: held-out feature MSE and training time for a fixed number of steps with
# augmentation + cache (SAN's setting), augmentation without the cache (the teacher runs on every augmented
# view), and no augmentation. Usage:
#   bash bench/san_ablation.sh WORK_DIR [STEPS] [TRAIN_SECONDS] [VIEWS]
# VIEWS (default 12) is the generated scene's view count: fewer views leave more of the scene to augmentation.
set -euo pipefail
work=$1 steps=${2:-600} train_seconds=${3:-90} views=${4:-12}
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
# Few training views make novel viewpoints matter: 12 views of a 96x96 scene by default.
"$bin" synth --out "$work/scene" --res 96 --views "$views" --objects 5 --seed 1 >/dev/null
echo '{"train": {"target_samples": 65536}}' > "$work/train.json"
"$bin" train --data "$work/scene" --out "$work/run" --time-budget "$train_seconds" --config "$work/train.json" 2>/dev/null |
  tail -1
run() {
  local name=$1; shift
  local start=$(date +%s.%N)
  "$bin" distill --run "$work/run" --teacher descriptor --name "$name" --steps "$steps" "$@" 2>&1 | grep -E "info: distilled|^distilled" || true
  echo "$name wall $(echo "$(date +%s.%N) - $start" | bc) s" >> "$work/times.txt"
}
rm -f "$work/times.txt"
run augment-cache
run augment-nocache --no-cache
run no-augment --no-augment
echo "--- held-out feature MSE (descriptor units) and wall time for $steps steps"
python3 - "$work/run/distill" "$work/times.txt" <<'PY'
import json, pathlib, sys
times = dict(l.split(" wall ") for l in open(sys.argv[2]).read().splitlines())
for name in ["augment-cache", "augment-nocache", "no-augment"]:
    m = json.loads((pathlib.Path(sys.argv[1]) / name / "eval" / "metrics.json").read_text())
    print(f"{name:18s} feature MSE {m['feature_mse']:.5f}  wall {times[name]}")
PY
