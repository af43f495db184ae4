#!/usr/bin/env bash
# GNeSF on scenes it never saw (issue 22 targets), with 2D maps from the simulated 2D segmenter (a measuring
# instrument: ground truth with segmenter-like errors at a target 2D mIoU, teachers/simulated_segmenter.h):
#  1. novel-view semantic mIoU / accuracy of each model given (the ablation: prob / logit / prob without visibility /
#     predict directly), `semfield apply --teacher labels:MAPS` + `semfield eval --gt semantic`, and the 3D mIoU of
#     its labels at the true surface points of the test views (GT depth);
#  2. the per-scene label field trained on the same noisy maps (`semfield train` + `semfield distill --teacher
#     labels:MAPS`, TRAIN seconds each), evaluated the same way;
#  3. one 256x256 semantic map from 8 source views (`semfield render` of an applied run), seconds per view.
# Usage: bash bench/gnesf_unseen.sh WORK_DIR N MIOU TRAIN_SECONDS MODEL...   (models by name or file)
set -euo pipefail
work=$1 n=$2 miou=$3 train=$4
shift 4
models=("$@")
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
last=$(printf "scene_%03d" $((n - 1)))
[[ -d "$work/unseen/$last" ]] || "$bin" synth --out "$work/unseen" --scenes "$n" --vary --views 40 --res 128 --seed 900000 >/dev/null 2>&1
for ((i = 0; i < n; i++)); do
  s=$(printf "scene_%03d" "$i")
  [[ -f "$work/maps/$s/simulated_segmenter.json" ]] ||
    "$bin" simulate-segmenter --data "$work/unseen/$s" --out "$work/maps/$s" --miou "$miou" --seed 1 >/dev/null 2>&1
  for m in "${models[@]}"; do
    tag=$(basename "$m" .safetensors)
    "$bin" apply --model "$m" --data "$work/unseen/$s" --teacher "labels:$work/maps/$s" --out "$work/gn_${tag}_$s" >/dev/null 2>&1
    "$bin" eval --run "$work/gn_${tag}_$s" --gt semantic --no-images >/dev/null 2>&1
  done
  if [[ "$train" != 0 ]]; then
    "$bin" train --data "$work/unseen/$s" --out "$work/hg_$s" --steps 1000000 --time-budget "$train" >/dev/null 2>&1
    "$bin" distill --run "$work/hg_$s" --teacher "labels:$work/maps/$s" --name noisy --steps 1000000 \
      --time-budget "$train" >/dev/null 2>&1
    "$bin" eval --run "$work/hg_$s" --gt semantic --no-images >/dev/null 2>&1
  fi
done
# Timing: the first model on a 256x256 scene (its ground-truth maps as input: the cost does not depend on them).
[[ -d "$work/big" ]] || "$bin" synth --out "$work/big" --vary --views 40 --res 256 --seed 900500 >/dev/null 2>&1
"$bin" apply --model "${models[0]}" --data "$work/big" --teacher labels:semantic --out "$work/gn_big" >/dev/null 2>&1
timing=$("$bin" render --run "$work/gn_big" --split test --out "$work/gn_big_renders" 2>/dev/null | grep "rendered semantics")
python3 - "$work" "$n" "$train" "$timing" "${models[@]}" <<'PY'
import json, pathlib, sys
w = pathlib.Path(sys.argv[1]); n, train, timing = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
models = [pathlib.Path(m).stem for m in sys.argv[5:]]
scenes = [f"scene_{i:03d}" for i in range(n)]
def load(p):
    return json.loads(p.read_text())
seg = [load(w / "maps" / s / "simulated_segmenter.json") for s in scenes]
mean = lambda xs: sum(xs) / len(xs)
print(f"input 2D maps (simulated segmenter, target {seg[0]['target_miou']}): source (train) views mIoU "
      f"{mean([x['miou_train'] for x in seg]):.3f}, test views {mean([x['miou_test'] for x in seg]):.3f}")
rows = []
for m in models:
    ms = [load(w / f"gn_{m}_{s}" / "eval" / "metrics.json") for s in scenes]
    rows.append((m, [x["miou"] for x in ms], [x["accuracy"] for x in ms], [x.get("miou_3d", 0) for x in ms]))
if train:
    hs = [load(w / f"hg_{s}" / "eval" / "metrics.json")["distilled"]["noisy"] for s in scenes]
    rows.append((f"per-scene label field ({train:.0f} s + {train:.0f} s)", [x["miou"] for x in hs],
                 [x["accuracy"] for x in hs], [x.get("miou_3d", 0) for x in hs]))
print("| model | novel-view mIoU (per scene) | mean | accuracy | 3D mIoU |")
print("| --- | --- | --- | --- | --- |")
for name, mi, acc, m3 in rows:
    print(f"| {name} | {' / '.join(f'{x:.3f}' for x in mi)} | {mean(mi):.3f} | {mean(acc):.3f} | {mean(m3):.3f} |")
if train:
    print(f"{models[0]} / per-scene field: {mean(rows[0][1]) / mean(rows[-1][1]) * 100:.1f} %")
print("256x256 semantic map from 8 source views:", timing)
PY
