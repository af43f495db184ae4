// Per-operation profile registry.
#include "semfield/foundation/op_profile.h"

#include <cstring>
#include <mutex>

namespace semfield::foundation {

std::atomic<bool> OpProfile::s_enabled{false};

namespace {
std::mutex& profile_mutex() {
  static std::mutex m;
  return m;
}
std::vector<OpProfileEntry>& profile_entries() {
  static std::vector<OpProfileEntry> e;
  return e;
}
}  // namespace

void OpProfile::enable(bool on) { s_enabled.store(on, std::memory_order_relaxed); }

void OpProfile::reset() {
  std::lock_guard<std::mutex> lock(profile_mutex());
  profile_entries().clear();
}

std::vector<OpProfileEntry> OpProfile::entries() {
  std::lock_guard<std::mutex> lock(profile_mutex());
  return profile_entries();
}

void OpProfile::add(const char* name, double seconds, double flops) {
  std::lock_guard<std::mutex> lock(profile_mutex());
  for (OpProfileEntry& e : profile_entries()) {
    if (e.name == name) {
      ++e.calls;
      e.seconds += seconds;
      e.flops += flops;
      return;
    }
  }
  profile_entries().push_back({name, 1, seconds, flops});
}

}  // namespace semfield::foundation
