// Precompiled header for every LibTorch-facing translation unit (see src/CMakeLists.txt).
#pragma once
#include <torch/torch.h>
