// CRC-32 through zlib, which is fast (slice-by-N) and long proven.
#include "semfield/core/crc32.h"

#include <algorithm>
#include <limits>

#include <zlib.h>

namespace semfield {

uint32_t crc32(const void* data, size_t size, uint32_t seed) {
  const auto* bytes = static_cast<const Bytef*>(data);
  uLong crc = seed;
  // zlib takes a 32-bit length; feed larger buffers in chunks.
  constexpr size_t kChunk = size_t{1} << 30;
  while (size > 0) {
    const size_t n = std::min(size, kChunk);
    crc = ::crc32(crc, bytes, static_cast<uInt>(n));
    bytes += n;
    size -= n;
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace semfield
