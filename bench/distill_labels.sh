#!/usr/bin/env bash
# Label fields on the built-in synthetic scene (issue targets: held-out mIoU >= 95 % from clean labels, >= 90 %
# with 30 % of the training label pixels corrupted). Generates the demo's scene, trains a radiance field, then
# distills semantic and instance labels, clean and noisy, and prints held-out mIoU / accuracy. Usage:
#   bash bench/distill_labels.sh WORK_DIR [TRAIN_SECONDS] [DISTILL_SECONDS]
set -euo pipefail
work=$1 train_seconds=${2:-90} distill_seconds=${3:-60}
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
"$bin" synth --out "$work/scene" --res 96 --views 40 --objects 5 --seed 0 >/dev/null
echo '{"train": {"target_samples": 65536}}' > "$work/train.json"
"$bin" train --data "$work/scene" --out "$work/run" --time-budget "$train_seconds" --config "$work/train.json" 2>/dev/null |
  tail -1
for spec in semantic instance; do
  for noise in 0 0.3; do
    name="labels-$spec-noise$noise"
    "$bin" distill --run "$work/run" --teacher "labels:$spec" --name "$name" --label-noise "$noise" \
      --time-budget "$distill_seconds" 2>/dev/null | tail -1
  done
done
echo "--- held-out views: mIoU / accuracy"
python3 - "$work/run/distill" <<'PY'
import json, pathlib, sys
for d in sorted(pathlib.Path(sys.argv[1]).iterdir()):
    m = json.loads((d / "eval" / "metrics.json").read_text())
    print(f"{d.name:32s} mIoU {m['miou']*100:6.2f} %  accuracy {m['accuracy']*100:6.2f} %  ({m['step']} steps)")
PY
