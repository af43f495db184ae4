// What memory the machine has left, and a projection of whether loading the rest of a set of items (the scenes of a
// corpus) will fit: a clear error before the kernel's OOM killer ends the process.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace semfield {

/// MemAvailable of /proc/meminfo in bytes (the kernel's estimate of memory a process can take without swapping);
/// nullopt where it cannot be read (not Linux, no /proc). The environment variable SEMFIELD_AVAILABLE_MEMORY (bytes)
/// replaces it: a share of a machine others use too, or a test.
std::optional<uint64_t> available_memory_bytes();

/// The value of `MemAvailable:` (kB) in the text of a /proc/meminfo, in bytes; nullopt if absent or malformed.
std::optional<uint64_t> parse_meminfo_available(const std::string& meminfo);

/// Loading `total` items of which the first `loaded` hold `loaded_bytes`: what the other `total - loaded` need at the
/// same rate, against `available` bytes.
struct MemoryProjection {
  uint64_t needed = 0;     ///< bytes the items still to load are expected to take
  uint64_t available = 0;  ///< bytes available when measured
  bool exceeds() const { return needed > available; }
  /// More than 80 % of what is left: the loading may fit, the training's own memory on top of it may not.
  bool tight() const { return static_cast<double>(needed) > 0.8 * static_cast<double>(available); }
};
MemoryProjection project_memory(uint64_t loaded_bytes, size_t loaded, size_t total, uint64_t available);

/// "12.3 GB", or "0.4 MB" below a gigabyte (decimal units, one decimal).
std::string format_memory(uint64_t bytes);

}  // namespace semfield
