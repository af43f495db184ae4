#!/usr/bin/env bash
# Peak memory and time of `semfield train` against capture size (issue 24: bounded-memory captures; the model in
# docs/memory.md). For each capture: load + train for SECONDS (wall-clock budget) + evaluate every test view, under
# /usr/bin/time -v; prints views, pixels, the image store's plan, load seconds, steps, test PSNR, peak RSS.
#   bash bench/capture_memory.sh WORK SECONDS [CAPTURE...]
# A CAPTURE is a scene folder, or one of the generated ones (made in WORK on first use; `semfield synth`):
#   hd100   100 views at 1920x1080     4k300   300 views at 3840x2160 (~40 min to generate on 2 cores)
# (their first 4 test views are evaluated).
# Extra `train` arguments for every run: TRAIN_ARGS (e.g. "--image-memory 4" to force a rotating subset).
set -euo pipefail
work=$1 seconds=$2
shift 2
bin=${SEMFIELD_BIN:-build/semfield}
mkdir -p "$work"
for cap in "$@"; do
  case $cap in
    hd100) data="$work/hd100"; [[ -f "$data/transforms_train.json" ]] ||
             "$bin" synth --out "$data" --views 100 --res 1920 --height 1080 --seed 7 > /dev/null ;;
    4k300) data="$work/4k300"; [[ -f "$data/transforms_train.json" ]] ||
             "$bin" synth --out "$data" --views 300 --res 3840 --height 2160 --seed 7 > /dev/null ;;
    *) data=$cap ;;
  esac
  if [[ $cap == hd100 || $cap == 4k300 ]]; then
    # Evaluate 4 test views of the generated captures (rendering all 60 4K test views would take longer than training).
    python3 - "$data/transforms_test.json" <<'PY'
import json, os, sys
path = sys.argv[1]
t = json.load(open(path))
if len(t["frames"]) > 4:
    t["frames"] = t["frames"][:4]
    json.dump(t, open(path + ".tmp", "w"), indent=1)
    os.replace(path + ".tmp", path)
PY
  fi
  tag=$(basename "$data")${TRAIN_ARGS:+_$(echo "$TRAIN_ARGS" | tr -c 'A-Za-z0-9.' '_')}
  run="$work/run_$tag"
  rm -rf "$run"
  # shellcheck disable=SC2086
  /usr/bin/time -v "$bin" train --data "$data" --out "$run" --steps 100000000 --time-budget "$seconds" \
    --eval-interval 0 ${TRAIN_ARGS:-} > "$run.log" 2>&1
  python3 - "$run" "$tag" <<'PY'
import json, re, sys
run, tag = sys.argv[1], sys.argv[2]
log = open(run + ".log").read()
m = json.load(open(run + "/eval/metrics.json"))
mem = m["image_memory"]
rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", log).group(1)) / 1e6
wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", log).group(1)
plan = re.search(r"training images: (.*)", log).group(1)
print(f"| {tag} | {mem['views']} | {mem['pixels'] / 1e6:.0f} Mpx | {mem['store_bytes'] / 1e9:.2f} GB | "
      f"{mem['resident_views']} | {mem['peak_bytes'] / 1e9:.2f} GB | {mem['load_seconds']:.0f} s | "
      f"{mem['rotation_seconds']:.0f} s | {m['step']} | {m['train_seconds']:.0f} s | "
      f"{m['psnr']:.2f} dB ({len(m['views'])} views) | {wall} | **{rss:.2f} GB** |")
print(f"    plan: {plan}", file=sys.stderr)
PY
done
