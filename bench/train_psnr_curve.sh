#!/usr/bin/env bash
# Trains on a scene with a wall-clock budget, evaluating test views along the way, and prints the
# PSNR-vs-time curve from RUN/progress.jsonl. Usage:
#   bash bench/train_psnr_curve.sh DATA_DIR RUN_DIR SECONDS [EVAL_INTERVAL] [extra train args...]
# e.g. bash bench/train_psnr_curve.sh ../shared/data/lego_200 /tmp/lego200 300 500
set -euo pipefail
data=$1 run=$2 seconds=$3 interval=${4:-500}
shift $(( $# < 4 ? $# : 4 ))
bin=${SEMFIELD_BIN:-build/semfield}
/usr/bin/time -v "$bin" train --data "$data" --out "$run" --steps 1000000 --time-budget "$seconds" \
  --eval-interval "$interval" "$@" 2> >(tee "$run.stderr.log" >&2)
echo "--- PSNR vs training time (test views; periodic points use the first train.eval_views views)"
python3 - "$run/progress.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if "test_psnr" in r:
        print(f"{r['seconds']:8.1f} s  step {r['step']:6d}  test PSNR {r['test_psnr']:6.2f}  SSIM {r['test_ssim']:.4f}  ({r['test_views']} views)")
PY
grep -E "Maximum resident" "$run.stderr.log" || true
