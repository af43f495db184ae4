#!/usr/bin/env bash
# FeatureNeRF's 3D transfer over categories (issue 27's 3D target and Table 3's internal-feature row): part and keypoint
# transfer on labelled point clouds of unseen instances (`synth --category C --instances 20 --seed 900000`, the same
# sets as bench/featurenerf_tasks.sh), PAIRS cross-instance pairs per category, with three descriptors on the same
# pairs: the simulated DINO teacher's 2D map sampled at the points' projections (the baseline), the shipped model's
# internal feature v_NeRF (the paper's descriptor) and its distilled output feature v (the same weights with
# "descriptor": "output", bench/model_variant.py), and the model's two heads together ("hybrid": v_NeRF with the
# coordinate head's x̂ weighed beside it, `--features hybrid --coordinate-weight W`, W = $HYBRID_WEIGHT or 2).
# Writes WORK/<descriptor>_<category>/metrics.json; prints a table.
# Usage: bash bench/featurenerf_3d.sh WORK PAIRS [CATEGORY...]   (default: chair table mug lamp airplane)
set -euo pipefail
work=$1 pairs=$2
shift 2
cats=("$@")
[[ ${#cats[@]} -gt 0 ]] || cats=(chair table mug lamp airplane)
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
for c in "${cats[@]}"; do
  data="$work/${c}_unseen"
  [[ -f "$data/category.json" ]] || "$bin" synth --category "$c" --instances 20 --views 50 --res 128 --seed 900000 \
    --out "$data" >/dev/null 2>&1
  python3 bench/model_variant.py "models/featurenerf-$c.safetensors" "$work/$c-output.safetensors" '{"descriptor": "output"}'
  run() {  # run TAG ARGS...: one eval-transfer unless its metrics exist
    local tag=$1
    shift
    [[ -f "$work/${tag}_$c/metrics.json" ]] ||
      "$bin" eval-transfer --data "$data" --settings 3d --pairs "$pairs" --out "$work/${tag}_$c" "$@" >/dev/null 2>&1
  }
  run teacher --model "models/featurenerf-$c.safetensors" --features teacher
  run internal --model "models/featurenerf-$c.safetensors"
  run output --model "$work/$c-output.safetensors"
  run hybrid --model "models/featurenerf-$c.safetensors" --features hybrid --coordinate-weight "${HYBRID_WEIGHT:-2}"
done
python3 - "$work" "${cats[@]}" <<'PY'
import json, sys
work, cats = sys.argv[1], sys.argv[2:]
print(f"{'category':10} {'part mIoU: teacher / v_NeRF / v / hybrid':44} {'PCK@0.05 / @0.1: teacher / v_NeRF / v / hybrid'}")
sums = {}
for c in cats:
    m = {d: json.load(open(f"{work}/{d}_{c}/metrics.json"))["3d"] for d in ("teacher", "internal", "output", "hybrid")}
    for d, s in m.items():
        sums.setdefault(d, []).append(s["part_miou"])
    miou = " / ".join(f"{m[d]['part_miou']:.3f}" for d in m)
    pck = "   ".join(f"{m[d]['pck'][1]:.3f} / {m[d]['pck'][3]:.3f}" for d in m)
    print(f"{c:10} {miou:44} {pck}")
print(f"{'mean':10} " + " / ".join(f"{sum(v) / len(v):.3f}" for v in sums.values()))
PY
