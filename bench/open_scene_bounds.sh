#!/usr/bin/env bash
# Bounds inference on a scene whose content reaches beyond the NeRF-synthetic box (issue 20): `synth --preset open`
# puts the ground disc out to 5 units and the cameras at 6 (lego's box holds [-1.5, 1.5]^3), and its
# transforms_*.json give no "aabb_scale", as a Blender export would. Trains twice for the same step count: with the
# box the loader infers (aabb_scale 4, and a warning saying so), and with "aabb_scale": 1 written into the files
# (lego's box, what semfield assumed before), then prints held-out PSNR / SSIM of both. Usage:
#   bash bench/open_scene_bounds.sh WORK_DIR [STEPS] [SEED]
set -euo pipefail
work=$1 steps=${2:-2000} seed=${3:-11}
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
"$bin" synth --out "$work/open" --preset open --res 128 --views 40 --objects 5 --seed "$seed" >/dev/null
rm -rf "$work/open_box1" && cp -r "$work/open" "$work/open_box1"
for split in train test; do
  python3 - "$work/open_box1/transforms_$split.json" <<'PY'
import json, sys
p = sys.argv[1]
t = json.load(open(p))
t["aabb_scale"] = 1
json.dump(t, open(p, "w"), indent=1)
PY
done
"$bin" info --data "$work/open" 2>&1 | grep -i -E "bounds|aabb" || true
for name in open open_box1; do
  rm -rf "$work/run_$name"
  "$bin" train --data "$work/$name" --out "$work/run_$name" --steps "$steps" 2>"$work/train_$name.log" | tail -1
  grep -i "aabb" "$work/train_$name.log" | head -2 || true
  "$bin" eval --run "$work/run_$name" >/dev/null 2>&1
done
echo "--- held-out views after $steps steps"
python3 - "$work" <<'PY'
import json, pathlib, sys
w = pathlib.Path(sys.argv[1])
for name, what in (("open", "inferred box (no aabb_scale in the file)"), ("open_box1", "\"aabb_scale\": 1 (lego's box)")):
    m = json.loads((w / f"run_{name}" / "eval" / "metrics.json").read_text())
    print(f"{what:42s} PSNR {m['psnr']:6.2f} dB  SSIM {m['ssim']:.4f}")
PY
