#!/usr/bin/env bash
# GP-NeRF's instance head on a crowded generated scene with several objects of one class (issue 26, instances):
# fine-tunes gp-nerf-synth on the scene with a fresh instance head, scores AP@0.75 (`eval --gt instance`) and click
# segmentation against the ground-truth instance masks (click_benchmark.h's protocol: one click at each object's
# visible centre in the training view where it shows most, followed into every test view; build/bench/segment_bench
# iou): the instance under the click (label-instance, `semantics@instance`) against the class under it (label-class,
# `semantics@class`); apply prints the head's own measure (AP@0.75 on 4 test views), which decides what a plain click
# (`semfield segment`, `semantics`) selects. Usage:
#   bash bench/gpnerf_instances.sh WORK_DIR [STEPS] [OBJECTS] [SEED] [FINETUNE_CONFIG]
# Defaults: 600 steps, 10 objects (the generator draws classes without repeats up to its 9 object classes, so 10
# objects repeat at least one), seed 910010 (two cones, two snowmen), '{"instance_slots": 16, "lr_scale":
# {"instance_head": 10}}'. SEMFIELD_BIN / SEMFIELD_BENCH_BIN / MODEL override the binaries and the model; HEAD_STEPS
# (default 0) adds `apply --finetune-head-steps`: the heads then fitted to the maps the model renders.
set -euo pipefail
work=$1 steps=${2:-600} objects=${3:-10} seed=${4:-910010}
config=${5:-'{"instance_slots": 16, "lr_scale": {"instance_head": 10}}'}
bin=${SEMFIELD_BIN:-build/semfield}
bench=${SEMFIELD_BENCH_BIN:-build/bench/segment_bench}
model=${MODEL:-models/gp-nerf-synth.safetensors}
head_steps=${HEAD_STEPS:-0}
mkdir -p "$work"
"$bin" synth --out "$work/scene" --objects "$objects" --seed "$seed" >/dev/null
"$bin" --threads 2 apply --model "$model" --data "$work/scene" --out "$work/run" --finetune-steps "$steps" \
  --finetune-head-steps "$head_steps" --finetune-config "$config" 2>&1 | tr '\r' '\n' |
  grep -E "^applied|instance head" | sed 's/^\[semfield\] //'
"$bin" --threads 2 eval --run "$work/run" --gt instance --no-images 2>/dev/null | grep -E "^instances|^mean over"
"$bench" iou "$work/run" "$work/scene" semantics@instance semantics@class
