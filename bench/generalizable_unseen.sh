#!/usr/bin/env bash
# The generalizable model on scenes it never saw (issue 21 targets):
#  1. generalized: N unseen generated scenes (seeds 900000.., never in a training corpus), 128x128, rendered from 8
#     source views with no per-scene training: `semfield apply` + `semfield eval` -> mean novel-view PSNR / SSIM;
#  2. fine-tuned vs per-scene: on the first K of them, the model fine-tuned for FT seconds vs the per-scene hash-grid
#     field (`semfield train`) trained FT seconds from scratch on the same training views;
#  3. one 256x256 view rendered from 8 source views (`semfield render`), wall time.
# Usage: bash bench/generalizable_unseen.sh WORK_DIR [MODEL] [N] [K] [FT_SECONDS]
set -euo pipefail
work=$1 model=${2:-ibr-synth} n=${3:-20} k=${4:-5} ft=${5:-60}
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
# Views: 40 around the object (the training split holds the source views), test views on other positions.
last=$(printf "scene_%03d" $((n - 1)))
[[ -d "$work/unseen/$last" ]] || "$bin" synth --out "$work/unseen" --scenes "$n" --vary --views 40 --res 128 --seed 900000 >/dev/null 2>&1
for ((i = 0; i < n; i++)); do
  s=$(printf "scene_%03d" "$i")
  "$bin" apply --model "$model" --data "$work/unseen/$s" --out "$work/gen_$s" --source-views 8 >/dev/null 2>&1
  "$bin" eval --run "$work/gen_$s" --no-images >/dev/null 2>&1
done
for ((i = 0; i < k; i++)); do
  s=$(printf "scene_%03d" "$i")
  "$bin" apply --model "$model" --data "$work/unseen/$s" --out "$work/ft_$s" --source-views 8 \
    --finetune-steps 1000000 --finetune-budget "$ft" >/dev/null 2>&1
  "$bin" eval --run "$work/ft_$s" --no-images >/dev/null 2>&1
  "$bin" train --data "$work/unseen/$s" --out "$work/hg_$s" --steps 1000000 --time-budget "$ft" >/dev/null 2>&1
done
[[ -d "$work/big" ]] || "$bin" synth --out "$work/big" --vary --views 40 --res 256 --seed 900500 >/dev/null 2>&1
"$bin" apply --model "$model" --data "$work/big" --out "$work/gen_big" --source-views 8 >/dev/null 2>&1
start=$(date +%s.%N)
"$bin" render --run "$work/gen_big" --split test --out "$work/big_renders" >/dev/null 2>&1
end=$(date +%s.%N)
views=$(ls "$work/big/test"/*.png | grep -v -E "_(depth|instance|semantic)" | wc -l)
python3 - "$work" "$n" "$k" "$ft" "$start" "$end" "$views" <<'PY'
import json, pathlib, sys
w = pathlib.Path(sys.argv[1]); n, k, ft = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
start, end, views = float(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
def metrics(run):
    return json.loads((w / run / "eval" / "metrics.json").read_text())
gen = [metrics(f"gen_scene_{i:03d}") for i in range(n)]
print(f"generalized, {n} unseen scenes, 128x128, 8 source views: PSNR {sum(m['psnr'] for m in gen) / n:.2f} dB "
      f"(min {min(m['psnr'] for m in gen):.2f}, max {max(m['psnr'] for m in gen):.2f}), "
      f"SSIM {sum(m['ssim'] for m in gen) / n:.4f}")
if k:
    ft_m = [metrics(f"ft_scene_{i:03d}") for i in range(k)]
    hg_m = [metrics(f"hg_scene_{i:03d}") for i in range(k)]
    for i in range(k):
        print(f"  scene_{i:03d}: generalized {gen[i]['psnr']:.2f}  fine-tuned {ft:.0f} s {ft_m[i]['psnr']:.2f}  "
              f"hash grid {ft:.0f} s {hg_m[i]['psnr']:.2f}")
    print(f"first {k}: generalized {sum(m['psnr'] for m in gen[:k]) / k:.2f}, fine-tuned {ft:.0f} s "
          f"{sum(m['psnr'] for m in ft_m) / k:.2f}, per-scene hash grid {ft:.0f} s {sum(m['psnr'] for m in hg_m) / k:.2f} dB")
print(f"256x256 render from 8 source views: {(end - start) / views:.2f} s per view "
      f"({views} test views in {end - start:.1f} s, incl. loading and encoding the source views once)")
PY
