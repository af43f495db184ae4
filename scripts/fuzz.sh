#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan + UBSan) in build-fuzz and runs each for FUZZ_SECONDS (default
# 20) on a scratch copy of its seed corpus fuzz/corpus/<name>/. Exits non-zero if any target crashes.
# Usage: scripts/fuzz.sh [name ...]   (default: every fuzz/*_fuzz.cpp)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
if [ "$(id -u)" -eq 0 ]; then bash scripts/setup.sh --tests; fi  # clang, libFuzzer and sanitizer runtimes
BUILD_DIR=${SEMFIELD_FUZZ_BUILD_DIR:-build-fuzz}
SECONDS_EACH=${FUZZ_SECONDS:-20}
JOBS=${FUZZ_JOBS:-$(nproc)}

CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSEMFIELD_BUILD_FUZZ=ON -DSEMFIELD_BUILD_TESTS=OFF -DSEMFIELD_BUILD_BENCH=OFF >/dev/null
cmake --build "$BUILD_DIR" --target fuzzers -j "$JOBS"

if [ $# -gt 0 ]; then
  names=("$@")
else
  names=()
  for f in fuzz/*_fuzz.cpp; do
    n=$(basename "$f" _fuzz.cpp)
    names+=("$n")
  done
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for name in "${names[@]}"; do
  corpus="$scratch/corpus_$name"
  mkdir -p "$corpus" "$scratch/artifacts_$name"
  # Copy so that the inputs libFuzzer adds never land in the repository's seed corpus.
  if [ -d "fuzz/corpus/$name" ]; then
    find "fuzz/corpus/$name" -maxdepth 1 -type f ! -name '.gitkeep' -exec cp {} "$corpus/" \;
  fi
  echo "fuzz.sh: running fuzz_$name for ${SECONDS_EACH}s"
  if ! "$ROOT/$BUILD_DIR/fuzz/fuzz_$name" -max_total_time="$SECONDS_EACH" -max_len=4096 -rss_limit_mb=4096 \
      -print_final_stats=1 -artifact_prefix="$scratch/artifacts_$name/" "$corpus" \
      >"$scratch/log_$name" 2>&1; then
    failed+=("$name")
    mkdir -p "$BUILD_DIR/crashes/$name"
    cp "$scratch/artifacts_$name"/* "$BUILD_DIR/crashes/$name/" 2>/dev/null || true
    echo "fuzz.sh: fuzz_$name FAILED; last lines of its log (crash inputs in $BUILD_DIR/crashes/$name):" >&2
    tail -n 40 "$scratch/log_$name" >&2
  else
    grep -E "stat::number_of_executed_units|stat::new_units_added" "$scratch/log_$name" | tr '\n' ' '
    echo
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: crashes in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no crashes in ${#names[@]} targets"
