#!/usr/bin/env bash
# A shipped FeatureNeRF model on another renderer (issue 27's checks use "other renderers"): the benchmark's 20 unseen
# instances of CATEGORY (`synth --category C --instances 20 --seed 900000`, as bench/featurenerf_tasks.sh) rendered by
# the default style and by `--style studio` (the same instances, cameras, part maps and keypoints; docs/formats.md),
# `eval-transfer` with the paper's descriptor (v_NeRF: --features model) and transfer's default (--features hybrid)
# over PAIRS pairs in the same-camera, different-camera and 3D settings. Prints one row per style and descriptor.
# Usage: bash bench/featurenerf_renderer_shift.sh WORK_DIR CATEGORY [PAIRS] [MODEL]
set -euo pipefail
work=$1 cat=$2 pairs=${3:-40} model=${4:-featurenerf-$2}
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
for style in lambert studio; do
  data="$work/${cat}_$style"
  [[ -f "$data/category.json" ]] || "$bin" synth --category "$cat" --instances 20 --views 50 --res 128 --seed 900000 \
    --style "$style" --out "$data" >/dev/null 2>&1
  for f in model hybrid; do
    out="$work/out_${cat}_${style}_$f"
    [[ -f "$out/metrics.json" ]] || "$bin" eval-transfer --model "$model" --data "$data" --features "$f" \
      --settings same-camera,diff-camera,3d --pairs "$pairs" --out "$out" >/dev/null 2>&1
  done
done
python3 - "$work" "$cat" <<'PY'
import json, sys
work, cat = sys.argv[1], sys.argv[2]
print("| style | descriptor | same-cam part mIoU | same-cam PCK@5 | diff-cam part mIoU | diff-cam PCK@10 | 3D part mIoU |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for style in ("lambert", "studio"):
    for f in ("model", "hybrid"):
        m = json.load(open(f"{work}/out_{cat}_{style}_{f}/metrics.json"))
        s, d, t = m["same-camera"], m["diff-camera"], m["3d"]
        print(f"| {style} | {f} | {s['part_miou']:.3f} | {s['pck'][1]:.3f} | {d['part_miou']:.3f} | {d['pck'][3]:.3f} |"
              f" {t['part_miou']:.3f} |")
PY
