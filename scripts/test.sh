#!/usr/bin/env bash
# Builds semfield and runs the whole test suite (unit, golden, end-to-end, fuzz smoke) with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${SEMFIELD_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" --timeout 900 "$@"
