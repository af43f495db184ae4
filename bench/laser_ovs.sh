#!/usr/bin/env bash
# Laser on held-out generated scenes (issue 23 targets), measured with the simulated open-vocabulary teacher
# (`semfield simulate-clip`, a measuring instrument: docs/teachers.md "Simulated CLIP"). Per scene (seeds SEEDS, 6
# objects, 256^2, 60 training + 12 test views): radiance field, simulated CLIP maps + text embeddings, then one CLIP
# field per variant (plain field, default Laser = text augmentation, full Laser with every module, each module alone,
# Laser's training scaffold without modules), each
# queried with the scene's class list on the test views (`query --classes ... --gt`: 3D-OVS mIoU over classes and
# views). The raw teacher's per-pixel arg-max is the 2D baseline (simulated_clip.json). Prints a table, writes
# WORK/summary.json. Usage: bash bench/laser_ovs.sh WORK STEPS SEED [SEED...]
set -euo pipefail
work=$1 steps=$2
shift 2
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
# Every switch is spelled out: a variant must not depend on the config's defaults (which changed once the module
# ablation showed text augmentation alone scores best: docs/segmentation.md "Laser").
declare -A variants=(
  [plain]='{"laser": {"enabled": false}}'
  [laser]='{"laser": {"enabled": true}}'
  [full]='{"laser": {"enabled": true, "adapter": true, "attention": true, "label_volume": true, "text_augmentation": true}}'
  [scaffold]='{"laser": {"enabled": true, "adapter": false, "attention": false, "label_volume": false, "text_augmentation": false}}'
  [adapter]='{"laser": {"enabled": true, "adapter": true, "attention": false, "label_volume": false, "text_augmentation": false}}'
  [attention]='{"laser": {"enabled": true, "adapter": false, "attention": true, "label_volume": false, "text_augmentation": false}}'
  [label_volume]='{"laser": {"enabled": true, "adapter": false, "attention": false, "label_volume": true, "text_augmentation": false}}'
  [text_augmentation]='{"laser": {"enabled": true, "adapter": false, "attention": false, "label_volume": false, "text_augmentation": true}}'
)
for seed in "$@"; do
  s="$work/scene_$seed"
  [[ -f "$s/scene.json" ]] || "$bin" synth --out "$s" --objects 6 --views 60 --res 256 --seed "$seed" >/dev/null 2>&1
  [[ -f "$work/clip_$seed/classes.json" ]] || "$bin" simulate-clip --data "$s" --out "$work/clip_$seed" >/dev/null 2>&1
  [[ -f "$work/run_$seed/checkpoint.ckpt" ]] || "$bin" train --data "$s" --out "$work/run_$seed" --steps 2000 >/dev/null 2>&1
  classes=$(python3 -c "import json,sys; print(','.join(json.load(open(sys.argv[1]))['classes']))" "$work/clip_$seed/classes.json")
  for v in plain laser full scaffold adapter attention label_volume text_augmentation; do
    out="$work/q_${seed}_$v"
    [[ -f "$out/query.json" ]] && continue
    run="$work/run_${seed}_$v"
    rm -rf "$run" && cp -r "$work/run_$seed" "$run"
    echo "${variants[$v]}" > "$work/$v.json"
    start=$(date +%s%N)
    "$bin" distill --run "$run" --teacher "files:$work/clip_$seed" --config "$work/$v.json" --steps "$steps" --name clip \
      >"$run/distill.log" 2>&1
    end=$(date +%s%N)
    echo "{\"distill_seconds\": $(( (end - start) / 1000000 )).0e-3}" > "$run/distill_time.json"
    "$bin" query --run "$run" --classes "$classes" --text-embeddings "$work/clip_$seed/text_embeddings.npy" \
      --views test --gt --out "$out" >/dev/null 2>&1
  done
done
python3 - "$work" "$@" <<'PY'
import json, sys
work, seeds = sys.argv[1], sys.argv[2:]
names = ["teacher", "plain", "laser", "full", "scaffold", "adapter", "attention", "label_volume", "text_augmentation"]
rows, summary = {}, {}
for seed in seeds:
    t = json.load(open(f"{work}/clip_{seed}/simulated_clip.json"))
    rows.setdefault("teacher", []).append((t["teacher_miou_test"], None, None))
    for v in names[1:]:
        q = json.load(open(f"{work}/q_{seed}_{v}/query.json"))
        d = json.load(open(f"{work}/run_{seed}_{v}/distill_time.json"))["distill_seconds"]
        rows.setdefault(v, []).append((q["score"]["miou"], d, q["seconds_per_view"]))
print(f"{'variant':20s} {'mIoU per scene':30s} {'mean':>6s} {'distill s':>9s} {'map s':>6s}")
for v in names:
    r = rows[v]
    mean = sum(x[0] for x in r) / len(r)
    ds = [x[1] for x in r if x[1] is not None]
    ms = [x[2] for x in r if x[2] is not None]
    summary[v] = {"miou": [x[0] for x in r], "mean_miou": mean,
                  "distill_seconds": sum(ds) / len(ds) if ds else None, "map_seconds": sum(ms) / len(ms) if ms else None}
    per = " ".join(f"{x[0]:.3f}" for x in r)
    print(f"{v:20s} {per:30s} {mean:6.3f} {summary[v]['distill_seconds'] or 0:9.1f} {summary[v]['map_seconds'] or 0:6.3f}")
json.dump(summary, open(f"{work}/summary.json", "w"), indent=2)
PY
