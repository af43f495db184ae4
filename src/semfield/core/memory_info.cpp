// Available memory and the projection of a load (memory_info.h).
#include "semfield/core/memory_info.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace semfield {

std::optional<uint64_t> parse_meminfo_available(const std::string& meminfo) {
  std::istringstream in(meminfo);
  std::string line;
  const std::string key = "MemAvailable:";
  while (std::getline(in, line)) {
    if (line.compare(0, key.size(), key) != 0) continue;
    std::istringstream fields(line.substr(key.size()));
    long long kb = -1;
    std::string unit;
    if (!(fields >> kb) || kb < 0) return std::nullopt;
    fields >> unit;
    if (!unit.empty() && unit != "kB") return std::nullopt;
    return static_cast<uint64_t>(kb) * 1024u;
  }
  return std::nullopt;
}

std::optional<uint64_t> available_memory_bytes() {
  if (const char* forced = std::getenv("SEMFIELD_AVAILABLE_MEMORY"); forced && *forced) {
    char* end = nullptr;
    const unsigned long long bytes = std::strtoull(forced, &end, 10);
    if (end && *end == '\0') return static_cast<uint64_t>(bytes);
  }
  std::ifstream in("/proc/meminfo");
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  return parse_meminfo_available(text.str());
}

MemoryProjection project_memory(uint64_t loaded_bytes, size_t loaded, size_t total, uint64_t available) {
  MemoryProjection p;
  p.available = available;
  if (loaded == 0 || total <= loaded) return p;
  const double per_item = static_cast<double>(loaded_bytes) / static_cast<double>(loaded);
  p.needed = static_cast<uint64_t>(per_item * static_cast<double>(total - loaded));
  return p;
}

std::string format_memory(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  return b >= 1e9 ? fmt::format("{:.1f} GB", b / 1e9) : fmt::format("{:.1f} MB", b / 1e6);
}

}  // namespace semfield
