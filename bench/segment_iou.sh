#!/usr/bin/env bash
# Click segmentation on the built-in synthetic scene (issue 6 targets: mean IoU against the ground-truth instance
# masks over all held-out views >= 0.85 with the descriptor field, >= 0.95 with a label field). Generates the
# scene, trains a radiance field, distills instance labels and the descriptor, then runs the protocol of
# src/semfield/segment/click_benchmark.h (one click at each object's visible centre in the training view where it
# shows most, followed into every test view) with build/bench/segment_bench. Usage:
#   bash bench/segment_iou.sh WORK_DIR [TRAIN_SECONDS] [DISTILL_SECONDS]
# SEMFIELD_BIN / SEMFIELD_BENCH_BIN name the CLI and bench binaries; SCENE_ARGS overrides the synth options;
# TRAIN_STEPS the radiance field's steps (default 1500, ~32 dB on the built-in scene; the figures before 2026-11-22
# session 9 used 400, ~29.5 dB, which TRAIN_STEPS=400 reproduces). The seconds are caps: the steps normally end first.
set -euo pipefail
work=$1 train_seconds=${2:-900} distill_seconds=${3:-300}
train_steps=${TRAIN_STEPS:-1500}
bin=${SEMFIELD_BIN:-build/semfield}
bench=${SEMFIELD_BENCH_BIN:-build/bench/segment_bench}
scene_args=${SCENE_ARGS:---res 64 --views 24 --objects 4 --seed 3}
mkdir -p "$work"
# shellcheck disable=SC2086
"$bin" synth --out "$work/scene" $scene_args >/dev/null
echo '{"train": {"target_samples": 65536}}' > "$work/train.json"
"$bin" train --data "$work/scene" --out "$work/run" --steps "$train_steps" --time-budget "$train_seconds" \
  --config "$work/train.json" 2>/dev/null | tail -1
"$bin" distill --run "$work/run" --teacher labels:instance --steps 600 --time-budget "$distill_seconds" 2>/dev/null |
  tail -1
"$bin" distill --run "$work/run" --teacher descriptor --steps 300 --time-budget "$distill_seconds" 2>/dev/null |
  tail -1
# descriptor@no-beneath: the same field without the completion beneath the selection (docs/segmentation.md step 9).
"$bench" iou "$work/run" "$work/scene" labels-instance descriptor descriptor@no-beneath
