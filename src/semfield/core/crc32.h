// CRC-32 (the zlib / PNG / gzip polynomial) for integrity checks of files semfield writes.
#pragma once

#include <cstddef>
#include <cstdint>

namespace semfield {

/// CRC-32 of `size` bytes at `data`. Pass the previous result as `seed` to continue over several pieces:
/// crc32(b, nb, crc32(a, na)) == crc32 of a followed by b. crc32(nullptr, 0) == 0.
uint32_t crc32(const void* data, size_t size, uint32_t seed = 0);

}  // namespace semfield
