#!/usr/bin/env bash
# Builds semfield and runs the main job on the built-in synthetic scene: `semfield demo --out demo_out`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${SEMFIELD_BUILD_DIR:-build}
"$BUILD_DIR/semfield" demo --out "${SEMFIELD_DEMO_OUT:-demo_out}" "$@"
