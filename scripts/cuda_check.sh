#!/usr/bin/env bash
# The CUDA check of semfield's device-agnostic code (docs/building.md, "A CUDA build"): builds the library and chosen
# test modules against a CUDA build of LibTorch -- PyTorch's own (python3 -c 'import torch'), not Debian's CPU-only
# libtorch-dev -- and runs the device tests (tests/unit/models/device_test.cpp: the IBR and GP-NeRF networks render
# and train on the GPU as on the CPU), then the modules' CPU tests under that LibTorch.
#
# A GPU machine often has neither Debian's packages nor a network: semfield's other dependencies travel as Debian 12
# .deb files, unpacked into a private prefix (never into /).
#   scripts/cuda_check.sh --download DIR      on a Debian 12 machine: fetch those .deb files into DIR
#   scripts/cuda_check.sh --deps DIR [--out DIR] [--modules "models kernels"] [--jobs N] [--cpu-filter M=PATTERN]...
#                                             on the GPU machine: unpack, configure (build-cuda/), build, test; logs and
#                                             a summary into --out (default build-cuda/logs); --cpu-filter runs only the
#                                             CPU tests of module M matching the gtest PATTERN (e.g. train=Distributed*)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(nlohmann-json3-dev libfmt-dev libfmt9 libspdlog-dev libspdlog1.10 libcli11-dev libpng-dev libpng16-16
  zlib1g-dev libeigen3-dev libembree-dev libembree3-3 libtbb-dev libtbb12 libtbbmalloc2 libtbbbind-2-5 libtinygltf-dev
  libtinygltf2d libcpp-httplib-dev libcpp-httplib0.11 libbrotli1 libbrotli-dev libssl-dev libstb-dev libstb0 libgtest-dev libgmock-dev libgloo-dev)

deps="" out="build-cuda/logs" modules="models kernels" jobs="$(nproc)" download=""
declare -A cpu_filter=()
while [ $# -gt 0 ]; do
  case "$1" in
    --download) download="$2"; shift 2 ;;
    --deps) deps="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --modules) modules="$2"; shift 2 ;;
    --jobs) jobs="$2"; shift 2 ;;
    --cpu-filter)
      case "$2" in *=?*) cpu_filter["${2%%=*}"]="${2#*=}" ;; *) echo "cuda_check.sh: --cpu-filter wants MODULE=PATTERN, got '$2'" >&2; exit 2 ;; esac
      shift 2 ;;
    *) echo "cuda_check.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done

if [ -n "$download" ]; then
  mkdir -p "$download"
  (cd "$download" && apt-get download "${packages[@]}")
  echo "cuda_check.sh: ${#packages[@]} packages in $download ($(du -sh "$download" | cut -f1))"
  exit 0
fi

mkdir -p "$out"
summary="$out/summary.txt"
: > "$summary"
note() { echo "$*" | tee -a "$summary"; }

prefix=/tmp/semfield-deps gloo_prefix=/tmp/semfield-gloo
if [ -n "$deps" ]; then
  rm -rf "$prefix" "$gloo_prefix"
  mkdir -p "$prefix" "$gloo_prefix"
  for f in "$deps"/*.deb; do
    case "$(basename "$f")" in
      libgloo-dev_*) dpkg -x "$f" "$gloo_prefix" ;;  # only where LibTorch ships no Gloo headers (below)
      *) dpkg -x "$f" "$prefix" ;;
    esac
  done
fi
lib="$prefix/usr/lib/x86_64-linux-gnu"

torch_info=$(python3 -c 'import torch, torch.utils, torch.utils.cpp_extension as e
print(torch.utils.cmake_prefix_path); print(e.include_paths()[0]); print(torch.__version__)
print(torch.version.cuda); print(torch.cuda.is_available())')
torch_cmake=$(sed -n 1p <<<"$torch_info") torch_include=$(sed -n 2p <<<"$torch_info")
note "LibTorch $(sed -n 3p <<<"$torch_info"), CUDA $(sed -n 4p <<<"$torch_info"), GPU available: $(sed -n 5p <<<"$torch_info")"
command -v nvidia-smi >/dev/null && note "$(nvidia-smi -L)"
note "compiler: $(g++ --version | head -1); cmake: $(cmake --version | head -1)"
# c10d's Gloo header includes Gloo's own: LibTorch's copy where it ships one, else Debian's (compile only: the
# distributed tests are not run here).
if [ -f "$torch_include/gloo/context.h" ]; then
  note "Gloo headers: LibTorch's"
else
  note "Gloo headers: Debian's libgloo-dev (LibTorch ships none)"
  export CPATH="$gloo_prefix/usr/include${CPATH:+:$CPATH}"
fi
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

targets=()
for m in $modules; do targets+=("test_$m"); done
start=$(date +%s)
set +e
cmake -S . -B build-cuda -G Ninja -DCMAKE_BUILD_TYPE=Release -DSEMFIELD_BUILD_TESTS=ON -DSEMFIELD_BUILD_BENCH=OFF \
  -DCMAKE_PREFIX_PATH="$torch_cmake;$prefix/usr" -DCMAKE_INCLUDE_PATH="$prefix/usr/include" \
  -DCMAKE_LIBRARY_PATH="$lib" -DGLOO_INCLUDE_DIR="$gloo_prefix/usr/include" >"$out/configure.log" 2>&1
rc=$?
note "configure: rc $rc ($(($(date +%s) - start)) s)"
if [ $rc -ne 0 ]; then tail -40 "$out/configure.log"; exit $rc; fi
start=$(date +%s)
cmake --build build-cuda -j "$jobs" --target "${targets[@]}" -- -k 0 >"$out/build.log" 2>&1
rc=$?
note "build of ${targets[*]}: rc $rc ($(($(date +%s) - start)) s, $(grep -c 'error:' "$out/build.log") error lines)"
if [ $rc -ne 0 ]; then grep -B2 -A6 'error:' "$out/build.log" | head -150; exit $rc; fi

failed=0
# The device tests first: they must run, not skip (none found in the modules asked for is a failure).
device_tests=0
for m in $modules; do
  bin="build-cuda/tests/test_$m"
  if "$bin" --gtest_list_tests --gtest_filter='Device*' | grep -q '^  '; then
    start=$(date +%s)
    device_tests=1
    SEMFIELD_TEST_DEVICE=${SEMFIELD_TEST_DEVICE:-cuda} "$bin" --gtest_filter='Device*' >"$out/device_$m.log" 2>&1
    rc=$?
    grep -q '^\[  SKIPPED \]' "$out/device_$m.log" && { rc=1; note "device tests of $m skipped: no GPU seen"; }
    note "device tests of $m: rc $rc ($(($(date +%s) - start)) s): $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$out/device_$m.log" | tr '\n' ' ')"
    [ $rc -ne 0 ] && { failed=1; grep -B3 -A12 'Failure\|what()' "$out/device_$m.log" | head -80; }
  fi
done
[ "$device_tests" -eq 1 ] || { note "no device tests in: $modules (tests/unit/models has them)"; failed=1; }
# The modules' other tests (their CPU paths) under this LibTorch. A test that crashes the binary is run again alone
# under a debugger (cuda-gdb debugs CPU code too) for its backtrace, and the rest go on without it.
debugger=$(command -v gdb || command -v cuda-gdb || true)
for m in $modules; do
  excluded='Device*:TrainedScene*:Long*:E2eFixture.*'
  wanted="${cpu_filter[$m]:-*}"
  for attempt in 1 2 3; do
    start=$(date +%s)
    log="$out/cpu_${m}_$attempt.log"
    timeout "${CPU_TEST_TIMEOUT:-240}" "build-cuda/tests/test_$m" --gtest_filter="$wanted-$excluded" >"$log" 2>&1
    rc=$?
    note "CPU tests of $m ($wanted without $excluded): rc $rc ($(($(date +%s) - start)) s): $(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$log" | tr '\n' ' ')"
    [ $rc -ne 0 ] && { failed=1; grep -E '^\[  FAILED' "$log" | head -40; }
    [ $rc -lt 128 ] || [ $rc -eq 137 ] && break
    crashed=$(grep '^\[ RUN      \]' "$log" | tail -1 | awk '{print $4}')
    [ -n "$crashed" ] || { note "crashed before any test ran"; break; }
    note "crashed in $crashed"
    if [ -n "$debugger" ]; then
      timeout "${DEBUG_TIMEOUT:-120}" "$debugger" -batch -ex run -ex bt -ex 'info threads' --args "build-cuda/tests/test_$m" \
        --gtest_filter="$crashed" >"$out/crash_${m}_$attempt.log" 2>&1
      grep -E '^#[0-9]+ ' "$out/crash_${m}_$attempt.log" | head -30 | tee -a "$summary"
    fi
    excluded="$excluded:$crashed"
  done
done
exit $failed
