#!/usr/bin/env bash
# Object-mesh quality and extraction timings on a generated scene with ground truth (issue 6's mesh target:
# object meshes watertight where the object is, < 5 % of their faces from other objects). Makes a scene,
# trains a run, runs bench/mesh_bench.cpp on it (timings per grid resolution, surface accuracy per density
# threshold, per-object purity / recall / holes with the ground-truth masks of the training views), then
# times the CLI end to end. Usage:
#   bash bench/mesh_quality.sh WORK_DIR [IMAGE_RES] [VIEWS] [TRAIN_SECONDS]
set -euo pipefail
work=$1 res=${2:-128} views=${3:-40} train_seconds=${4:-240}
bin=${SEMFIELD_BIN:-build/semfield}
bench=${SEMFIELD_MESH_BENCH:-build/bench/mesh_bench}
mkdir -p "$work"
"$bin" synth --out "$work/scene" --res "$res" --views "$views" --objects 5 --seed 7 2>/dev/null
echo '{"train": {"target_samples": 65536}}' > "$work/train.json"
if [ ! -f "$work/run/checkpoint.ckpt" ]; then
  "$bin" train --data "$work/scene" --out "$work/run" --steps 100000 --time-budget "$train_seconds" \
    --config "$work/train.json" 2>/dev/null | tail -1
fi
"$bench" "$work/scene" "$work/run" --resolutions 128,256,384 --thresholds 2.5,5,10,25,50,100 \
  --quality-resolution 256 --snapshots "$work/snapshots" 2>/dev/null
echo "--- CLI: whole scene at resolution 256 (GLB)"
TIMEFORMAT="wall %R s"
time "$bin" mesh --run "$work/run" --out "$work/scene.glb" --resolution 256
