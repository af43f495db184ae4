// Precompiled header of the targets without LibTorch (semfield_base, its tests, the fuzz replays): the heavy
// headers most of their files include (see pch_torch.h for why a precompiled header stays narrow).
#pragma once

#include <Eigen/Core>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
