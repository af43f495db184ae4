#!/usr/bin/env bash
# GP-NeRF's Table 4 on generated scenes: each row trained alike from the same starting model (INIT: a gp-nerf model,
# e.g. a checkpoint of the shipped model's run) for STEPS steps on CORPUS with that row's switches, then applied to the
# benchmark's unseen scenes (bench/gpnerf_unseen.sh's WORK/unseen) and scored: novel-view mIoU (generalized) and PSNR.
#   ID 1  attention maps not jointly optimised ("joint_attention": false), no 2D distill, no depth-guided loss
#   ID 2  jointly optimised
#   ID 3  + 2D semantic distill loss, no gradient block
#   ID 4  + gradient block
#   ID 5  + depth-guided semantic distill loss (the full model)
# Usage: bash bench/gpnerf_ablation.sh WORK CORPUS INIT STEPS N
set -euo pipefail
work=$1 corpus=$2 init=$3 steps=$4 n=$5
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work/ablation"
# Every row starts from the same weights: a copy of INIT taken once (INIT may be replaced while the rows train).
[[ -f "$work/ablation/init.safetensors" ]] || cp "$init" "$work/ablation/init.safetensors"
init="$work/ablation/init.safetensors"
last=$(printf "scene_%03d" $((n - 1)))
[[ -d "$work/unseen/$last" ]] || "$bin" synth --out "$work/unseen" --scenes "$n" --vary --views 40 --res 128 --seed 900000 >/dev/null 2>&1
rows=(
  '{"joint_attention": false, "loss": {"distill": 0, "depth_guided": 0}}'
  '{"loss": {"distill": 0, "depth_guided": 0}}'
  '{"gradient_block": false, "loss": {"depth_guided": 0}}'
  '{"loss": {"depth_guided": 0}}'
  '{}'
)
for id in 1 2 3 4 5; do
  run="$work/ablation/id$id"
  if [[ ! -f "$run/model.safetensors" ]]; then
    echo "${rows[$((id - 1))]}" > "$work/ablation/id$id.json"
    "$bin" --threads 2 train-corpus --data "$corpus" --out "$run" --type gp-nerf --config "$work/ablation/id$id.json" \
      --init "$init" --steps "$steps" --lr 3e-4 --eval-interval 0 --val-scenes 0 --checkpoint-interval 0 --seed 1 >/dev/null 2>&1
  fi
  for ((i = 0; i < n; i++)); do
    s=$(printf "scene_%03d" "$i")
    [[ -f "$run/$s/eval/metrics.json" ]] && continue
    "$bin" apply --model "$run/model.safetensors" --data "$work/unseen/$s" --out "$run/$s" >/dev/null 2>&1
    "$bin" eval --run "$run/$s" --gt semantic --no-images >/dev/null 2>&1
  done
done
python3 - "$work" "$n" "$steps" <<'PY'
import json, pathlib, sys
w = pathlib.Path(sys.argv[1]) / "ablation"; n, steps = int(sys.argv[2]), int(sys.argv[3])
names = ["not jointly optimised", "jointly optimised", "+ 2D S.D loss", "+ gradient block", "+ D.G loss (full)"]
marks = ["× × × ×", "✓ × × ×", "✓ ✓ × ×", "✓ ✓ ✓ ×", "✓ ✓ ✓ ✓"]
print(f"| ID | joint / S.D / block / D.G | row | mIoU (per scene) | mean | PSNR (dB) |")
print("| --- | --- | --- | --- | --- | --- |")
for i in range(5):
    ms = [json.loads((w / f"id{i + 1}" / f"scene_{k:03d}" / "eval" / "metrics.json").read_text()) for k in range(n)]
    mi = [m["miou"] for m in ms]
    ps = [m["psnr"] for m in ms]
    print(f"| {i + 1} | {marks[i]} | {names[i]} | {' / '.join(f'{x:.3f}' for x in mi)} | {sum(mi) / n:.3f} | "
          f"{sum(ps) / n:.2f} |")
PY
