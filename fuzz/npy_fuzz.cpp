// libFuzzer target: parse_npy on arbitrary bytes; a parsed array must be self-consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "semfield/core/error.h"
#include "semfield/io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    const semfield::Array array = semfield::parse_npy(data, size, "fuzz.npy");
    if (array.data.size() != static_cast<size_t>(array.numel()) * semfield::dtype_size(array.dtype)) std::abort();
    // Re-serialising a parsed array and parsing it again must give the same array.
    if (array.dtype != semfield::DType::BF16) {
      const auto bytes = semfield::serialize_npy(array);
      const semfield::Array again = semfield::parse_npy(bytes.data(), bytes.size(), "fuzz.npy");
      if (again.shape != array.shape || again.dtype != array.dtype || again.data != array.data) std::abort();
    }
  } catch (const semfield::Error&) {
  }
  return 0;
}
