#!/usr/bin/env bash
# GP-NeRF on scenes it never saw (issue 26 targets), side by side with GNeSF, GNeSF's "predict directly" baseline and
# per-scene label fields, on the generalizable benchmark's unseen scenes (the same as bench/gnesf_unseen.sh: seeds
# 900000.., 128^2, 40 source views, 8 test views):
#  1. GP-NeRF generalized: `semfield apply` (no per-scene training, no 2D maps of the scene) + `eval --gt semantic`:
#     novel-view mIoU / accuracy over the classes both know (by name), PSNR; seconds per view of `render --semantic`;
#  2. GP-NeRF fine-tuned: `apply --finetune-steps FT` on the scene's own train-view labels, the same evaluation (since
#     2026-11-29 apply's default head stage follows: FT/2 steps of the heads alone; HEAD_STEPS=0 leaves it out, as
#     the figures before that date);
#  3. GNeSF and its predict-directly baseline (MODELS given as GNESF and DIRECT; "-" skips) with the simulated 2D
#     segmenter's maps at mIoU 0.75 (a measuring instrument: teachers/simulated_segmenter.h);
#  4. per-scene label fields (`semfield train` TRAIN s + `distill --teacher labels:semantic` TRAIN s, the ground-truth
#     train-view labels fine-tuning sees), TRAIN = 0 skips;
#  5. one 256x256 view with semantics from 8 reference views (an orbit view of a 256^2 scene): seconds of its
#     colour + semantics pass.
# Usage: bash bench/gpnerf_unseen.sh WORK_DIR N FT_STEPS TRAIN_SECONDS GPNERF [GNESF DIRECT]
set -euo pipefail
work=$1 n=$2 ft=$3 train=$4 gp=$5 gnesf=${6:--} direct=${7:--}
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
tag=$(basename "$gp" .safetensors)
last=$(printf "scene_%03d" $((n - 1)))
[[ -d "$work/unseen/$last" ]] || "$bin" synth --out "$work/unseen" --scenes "$n" --vary --views 40 --res 128 --seed 900000 >/dev/null 2>&1
# Seconds per view of `render --semantic`'s pass (GP-NeRF and GNeSF with maps render colour and semantics in one pass).
timing() { "$bin" render --run "$1" ${2:---split test} --semantic --out "$1/renders" 2>/dev/null |
  python3 -c 'import re,sys; print(re.search(r"rendered semantics .*\(([0-9.]+) s per view\)", sys.stdin.read()).group(1))'; }
for ((i = 0; i < n; i++)); do
  s=$(printf "scene_%03d" "$i")
  "$bin" apply --model "$gp" --data "$work/unseen/$s" --out "$work/gp_${tag}_$s" >/dev/null 2>&1
  "$bin" eval --run "$work/gp_${tag}_$s" --gt semantic --no-images >/dev/null 2>&1
  [[ $i == 0 ]] && timing "$work/gp_${tag}_$s" > "$work/gp_${tag}.seconds_per_view"
  if [[ "$ft" != 0 ]]; then
    "$bin" apply --model "$gp" --data "$work/unseen/$s" --out "$work/gpft_${tag}_$s" --finetune-steps "$ft" \
      ${HEAD_STEPS:+--finetune-head-steps "$HEAD_STEPS"} >/dev/null 2>&1
    "$bin" eval --run "$work/gpft_${tag}_$s" --gt semantic --no-images >/dev/null 2>&1
  fi
  for m in "$gnesf" "$direct"; do
    [[ "$m" == "-" ]] && continue
    mt=$(basename "$m" .safetensors)
    [[ -f "$work/maps/$s/simulated_segmenter.json" ]] ||
      "$bin" simulate-segmenter --data "$work/unseen/$s" --out "$work/maps/$s" --miou 0.75 --seed 1 >/dev/null 2>&1
    if [[ ! -f "$work/gn_${mt}_$s/eval/metrics.json" ]]; then
      "$bin" apply --model "$m" --data "$work/unseen/$s" --teacher "labels:$work/maps/$s" --out "$work/gn_${mt}_$s" >/dev/null 2>&1
      "$bin" eval --run "$work/gn_${mt}_$s" --gt semantic --no-images >/dev/null 2>&1
    fi
    [[ $i == 0 && ! -f "$work/gn_${mt}.seconds_per_view" ]] && timing "$work/gn_${mt}_$s" > "$work/gn_${mt}.seconds_per_view"
  done
  if [[ "$train" != 0 && ! -f "$work/hgt_$s/eval/metrics.json" ]]; then
    "$bin" train --data "$work/unseen/$s" --out "$work/hgt_$s" --steps 1000000 --time-budget "$train" >/dev/null 2>&1
    "$bin" distill --run "$work/hgt_$s" --teacher labels:semantic --name gt --steps 1000000 --time-budget "$train" >/dev/null 2>&1
    "$bin" eval --run "$work/hgt_$s" --gt semantic --no-images >/dev/null 2>&1
  fi
done
[[ -d "$work/big" ]] || "$bin" synth --out "$work/big" --vary --views 40 --res 256 --seed 900500 >/dev/null 2>&1
"$bin" apply --model "$gp" --data "$work/big" --out "$work/gp_big" --source-views 8 >/dev/null 2>&1
big=$(timing "$work/gp_big" "--orbit 1")
python3 - "$work" "$n" "$ft" "$train" "$tag" "$gnesf" "$direct" "$big" <<'PY'
import json, pathlib, sys
w = pathlib.Path(sys.argv[1]); n, ft, train = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
tag, gnesf, direct, big = sys.argv[5], sys.argv[6], sys.argv[7], float(sys.argv[8])
scenes = [f"scene_{i:03d}" for i in range(n)]
load = lambda p: json.loads(p.read_text())
mean = lambda xs: sum(xs) / len(xs)
rows = []
def row(name, prefix, key=None, seconds=True):
    ms = [load(w / f"{prefix}_{s}" / "eval" / "metrics.json") for s in scenes]
    sem = [m["distilled"][key] if key else m for m in ms]
    sec = [float((w / f"{prefix}.seconds_per_view").read_text())] if seconds else None
    rows.append((name, [x["miou"] for x in sem], [x["accuracy"] for x in sem], [m["psnr"] for m in ms], sec))
row(f"GP-NeRF generalized ({tag}; no 2D maps of the scene)", f"gp_{tag}")
if ft:
    row(f"GP-NeRF fine-tuned ({ft} steps on the scene's train-view labels)", f"gpft_{tag}", seconds=False)
for m, what in ((gnesf, "GNeSF (soft voting of simulated-segmenter maps at 2D mIoU 0.75)"),
                (direct, "predict directly (GNeSF's baseline, same maps' features)")):
    if m != "-":
        row(f"{what}: {pathlib.Path(m).stem}", f"gn_{pathlib.Path(m).stem}")
if train:
    row(f"per-scene label field (train {train:.0f} s + distill labels:semantic {train:.0f} s)", "hgt", "gt", seconds=False)
print("| model | novel-view mIoU (per scene) | mean | accuracy | PSNR (dB) | s per 128² view (colour + semantics; scene 0) |")
print("| --- | --- | --- | --- | --- | --- |")
for name, mi, acc, psnr, sec in rows:
    s = f"{mean(sec):.2f}" if sec else "—"
    print(f"| {name} | {' / '.join(f'{x:.3f}' for x in mi)} | {mean(mi):.3f} | {mean(acc):.3f} | {mean(psnr):.2f} | {s} |")
print(f"256x256 view with semantics from 8 reference views: {big:.2f} s (colour + semantics)")
PY
