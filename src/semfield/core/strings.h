// Small string helpers C++17 lacks. Shared here rather than redefined per file: unity batches (docs/building.md)
// join files, and two files defining the same helper would collide.
#pragma once

#include <string>

namespace semfield {

inline bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

}  // namespace semfield
