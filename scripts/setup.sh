#!/usr/bin/env bash
# Installs the Debian packages semfield needs. Idempotent; run as root.
#   scripts/setup.sh           what building and running the CLI needs (scripts/demo.sh)
#   scripts/setup.sh --tests   also what the tests, benchmarks and fuzzers need, and the browser test's npm
#                              packages (tests/browser/node_modules, from its package-lock.json)
set -euo pipefail
cd "$(dirname "$0")/.."

with_tests=0
for arg in "$@"; do
  case "$arg" in
    --tests) with_tests=1 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --tests)" >&2; exit 2 ;;
  esac
done

packages=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # tensors / autograd / NN; the pthread OpenBLAS makes GEMM ~70x faster than the reference BLAS
  libtorch-dev libopenblas0-pthread
  # data-parallel training: c10d's Gloo process group header includes Gloo's own headers (LibTorch links Gloo)
  libgloo-dev
  # ray tracing for the synthetic scene generator
  libembree-dev
  # images, JSON, CLI, logging, compression
  libstb-dev libpng-dev libeigen3-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev zlib1g-dev
  # mesh export (GLB)
  libtinygltf-dev
  # `semfield serve` (HTTP server)
  libcpp-httplib-dev
)
if [ "$with_tests" -eq 1 ]; then
  packages+=(
    # tests and benchmarks
    libgtest-dev libgmock-dev libbenchmark-dev
    # libFuzzer and sanitizer runtimes (scripts/fuzz.sh) and clang's OpenMP, which the fuzz configure needs
    clang libclang-rt-14-dev libomp-dev
    # the viewer's headless browser test (tests/browser)
    chromium
  )
  # The browser test's playwright-core runs on any Node.js >= 18; keep one that is already installed (e.g. nodesource).
  if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    packages+=(nodejs npm)
  fi
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (it calls apt-get)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#packages[@]} packages already installed"
else
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ "$with_tests" -eq 1 ] && [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "setup.sh: npm ci in tests/browser"
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
