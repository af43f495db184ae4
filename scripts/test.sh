#!/usr/bin/env bash
# Builds semfield with its tests and runs them with CTest: both tiers by default (docs/testing.md).
#   scripts/test.sh              every test (fast + long): what .ci/run calls
#   scripts/test.sh -L fast      the fast tier only (<= 10 min on 2 cores), while developing
# Extra arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh --tests
BUILD_DIR=${SEMFIELD_BUILD_DIR:-build}
ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)" --timeout 900 "$@"
