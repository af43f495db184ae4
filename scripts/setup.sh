#!/usr/bin/env bash
# Installs every Debian package semfield needs to build, test and benchmark. Idempotent; run as root.
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build ccache clang pkg-config git
  # libFuzzer and sanitizer runtimes (scripts/fuzz.sh) and clang's OpenMP, which the fuzz configure needs
  libclang-rt-14-dev libomp-dev
  # tensors / autograd / NN; the pthread OpenBLAS makes GEMM ~70x faster than the reference BLAS
  libtorch-dev libopenblas0-pthread
  # ray tracing for the synthetic scene generator
  libembree-dev
  # images, JSON, CLI, logging, compression
  libstb-dev libpng-dev libeigen3-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev zlib1g-dev
  # mesh export (GLB)
  libtinygltf-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # `semfield serve` (HTTP server) and its headless browser test (tests/browser)
  libcpp-httplib-dev chromium
)
# The browser test's playwright-core runs on any Node.js >= 18; keep one that is already installed (e.g. nodesource).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
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
  exit 0
fi
echo "setup.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
