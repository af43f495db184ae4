#!/usr/bin/env bash
# FeatureNeRF on unseen instances of a category (issue 27 targets): the model's descriptor against the simulated DINO
# teacher's 2D maps (the 2D-teacher baseline) and against other models given (ablations: "NeRF feature" = trained
# without a teacher, w/o L_coord, ...; the same model with "descriptor": "output" is scored by passing OUTPUT=1), on
# `semfield synth --category CAT --instances N --seed 900000` (instances the models never saw, their own cameras):
#  1. `semfield eval-transfer` per model: PCK and part mIoU, same camera / different cameras / novel view / 3D
#     (PAIRS pairs each), and the mean seconds of one 128^2 descriptor map in a novel view (render_view);
#  2. the teacher's 2D maps (`--features teacher`) with the first model's teacher options, and the canonical-coordinate
#     oracle (`--features canonical`: true canonical positions matched by distance, the ceiling of position alone);
#  3. novel-view PSNR of each model: `apply --source-view r_0` on the first 6 instances, `eval` over their test views.
# Writes WORK/<tag>/metrics.json (+ pictures) and WORK/summary.json; prints a table.
# Usage: bash bench/featurenerf_tasks.sh WORK CATEGORY N PAIRS MODEL [MODEL...]
set -euo pipefail
work=$1 cat=$2 n=$3 pairs=$4
shift 4
bin=${SEMFIELD_BIN:-build/semfield}  # e.g. a wrapper adding --threads N
mkdir -p "$work"
data="$work/${cat}_unseen"
[[ -f "$data/category.json" ]] || "$bin" synth --category "$cat" --instances "$n" --views 50 --res 128 --seed 900000 \
  --out "$data" >/dev/null 2>&1
# Results already in WORK are kept (delete WORK/<tag> to recompute).
[[ -f "$work/teacher/metrics.json" ]] ||
  "$bin" eval-transfer --model "$1" --data "$data" --features teacher --pairs "$pairs" --out "$work/teacher" >/dev/null 2>&1
[[ -f "$work/oracle/metrics.json" ]] ||
  "$bin" eval-transfer --model "$1" --data "$data" --features canonical --pairs "$pairs" --out "$work/oracle" >/dev/null 2>&1
for m in "$@"; do
  tag=$(basename "$m" .safetensors)
  [[ -f "$work/$tag/metrics.json" ]] ||
    "$bin" eval-transfer --model "$m" --data "$data" --pairs "$pairs" --out "$work/$tag" > /dev/null 2>&1
  for ((i = 0; i < 6 && i < n; i++)); do
    inst=$(printf "instance_%03d" "$i")
    [[ -f "$work/run_${tag}_$inst/eval/metrics.json" ]] && continue
    "$bin" apply --model "$m" --data "$data/$inst" --source-view r_0 --out "$work/run_${tag}_$inst" >/dev/null 2>&1
    "$bin" eval --run "$work/run_${tag}_$inst" --no-images >/dev/null 2>&1
  done
  python3 - "$work" "$tag" <<'PY'
import json, sys, glob
work, tag = sys.argv[1], sys.argv[2]
vals = [json.load(open(f))["psnr"] for f in sorted(glob.glob(f"{work}/run_{tag}_instance_*/eval/metrics.json"))]
m = json.load(open(f"{work}/{tag}/metrics.json"))
m["novel_view_psnr"] = sum(vals) / len(vals) if vals else None
json.dump(m, open(f"{work}/{tag}/metrics.json", "w"), indent=2)
PY
done
python3 - "$work" "$@" <<'PY'
import json, sys, os
work, models = sys.argv[1], sys.argv[2:]
rows = [("teacher (2D)", json.load(open(f"{work}/teacher/metrics.json"))),
        ("oracle: true canonical coordinates", json.load(open(f"{work}/oracle/metrics.json")))]
rows += [(os.path.basename(m).replace(".safetensors", ""), json.load(open(f"{work}/{os.path.basename(m).replace('.safetensors', '')}/metrics.json"))) for m in models]
def cell(m, s, what):
    v = m.get(s)
    if not isinstance(v, dict): return "n/a"
    return f"{v['part_miou']:.3f}" if what == "miou" else f"{v['pck'][1]:.3f} / {v['pck'][3]:.3f}"
print("| features | same-cam part mIoU | same-cam PCK@5/@10 | diff-cam part mIoU | diff-cam PCK@5/@10 | novel-view part mIoU | 3D part mIoU | 3D PCK@0.05/@0.1 | novel-view PSNR | s per 128² map |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name, m in rows:
    psnr = m.get("novel_view_psnr")
    print(f"| {name} | {cell(m,'same-camera','miou')} | {cell(m,'same-camera','pck')} | {cell(m,'diff-camera','miou')} | {cell(m,'diff-camera','pck')} | {cell(m,'novel-view','miou')} | {cell(m,'3d','miou')} | {cell(m,'3d','pck')} | {psnr if psnr is None else f'{psnr:.2f}'} | {m.get('render_seconds_per_view', 0):.2f} |")
json.dump({name: m for name, m in rows}, open(f"{work}/summary.json", "w"), indent=2)
PY
