// Environment switches.
#pragma once

#include <cstdlib>
#include <cstring>

namespace semfield {

/// Whether the switch `name` is on: unset or set to anything but "0" (the SEMFIELD_FUSED_* opt-outs, which turn a
/// fused kernel off for benchmarks). Callers cache the answer in a function-local static.
inline bool env_switch_on(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr || std::strcmp(v, "0") != 0;
}

}  // namespace semfield
