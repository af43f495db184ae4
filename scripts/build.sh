#!/usr/bin/env bash
# Installs dependencies (scripts/setup.sh) and builds semfield in ./build (Release, Ninja, ccache).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then bash scripts/setup.sh; fi
BUILD_DIR=${SEMFIELD_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${SEMFIELD_CMAKE_ARGS:-} >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
