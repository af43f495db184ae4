// Precompiled header of every LibTorch-facing target (the library, the CLI, tests, benchmarks; src/CMakeLists.txt).
//
// Narrow on purpose. GCC re-runs a header's pending template instantiations in every translation unit that uses the
// precompiled header, so its cost is paid per file even when the file needs none of it: measured per empty file,
// <torch/torch.h> 4.5-5.4 s, this header ~2.3 s (docs/building.md). <torch/torch.h> (nn, optim, data, jit) stays out:
// a file that needs torch::optim or torch::jit includes that header itself. torch/types.h gives the torch:: tensor
// factories and `torch::` spellings of the ATen API. Eigen, JSON and fmt are here because most files use them and
// parsing them costs ~3.4 s per file, against ~0.8 s per file as part of this header.
#pragma once

#include <ATen/ATen.h>
#include <torch/types.h>

#include <Eigen/Core>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
