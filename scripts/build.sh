#!/usr/bin/env bash
# Installs dependencies (scripts/setup.sh) and builds semfield in ./build (Release, Ninja, ccache).
#   scripts/build.sh                 the CLI only (build/semfield launcher + build/semfield-cli): what demo.sh runs
#   scripts/build.sh --tests         everything: the CLI, tests, benchmarks (scripts/test.sh)
# SEMFIELD_BUILD_DIR picks another folder; SEMFIELD_CMAKE_ARGS adds configure options (docs/building.md).
set -euo pipefail
cd "$(dirname "$0")/.."
with_tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1 ;;
    *) echo "build.sh: unknown option '$arg' (expected --tests)" >&2; exit 2 ;;
  esac
done
setup_args=()
[ "$with_tests" -eq 1 ] && setup_args+=(--tests)
if [ "$(id -u)" -eq 0 ]; then bash scripts/setup.sh "${setup_args[@]}"; fi
BUILD_DIR=${SEMFIELD_BUILD_DIR:-build}
if [ "$with_tests" -eq 1 ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEMFIELD_BUILD_TESTS=ON -DSEMFIELD_BUILD_BENCH=ON \
    ${SEMFIELD_CMAKE_ARGS:-} >/dev/null
  cmake --build "$BUILD_DIR" -j "$(nproc)"
else
  # Tests and benchmarks stay unconfigured, so their packages need not be installed; a later --tests build of the
  # same folder turns them on and reuses the library.
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEMFIELD_BUILD_TESTS=OFF -DSEMFIELD_BUILD_BENCH=OFF \
    ${SEMFIELD_CMAKE_ARGS:-} >/dev/null
  cmake --build "$BUILD_DIR" -j "$(nproc)" --target semfield_launcher
fi
