// libFuzzer target: parse_safetensors on arbitrary bytes; a parsed file must survive a write/read cycle.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "semfield/core/error.h"
#include "semfield/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  semfield::SafetensorsFile file;
  try {
    file = semfield::parse_safetensors(data, size, "fuzz.safetensors");
  } catch (const semfield::Error&) {
    return 0;
  }
  for (const auto& [name, array] : file.tensors)
    if (array.data.size() != static_cast<size_t>(array.numel()) * semfield::dtype_size(array.dtype)) std::abort();
  std::vector<uint8_t> bytes;
  try {
    bytes = semfield::serialize_safetensors(file);
  } catch (const semfield::UsageError&) {
    return 0;  // names or metadata that are not valid UTF-8 cannot be written back
  }
  const semfield::SafetensorsFile again = semfield::parse_safetensors(bytes.data(), bytes.size(), "again");
  if (again.metadata != file.metadata || again.tensors.size() != file.tensors.size()) std::abort();
  for (const auto& [name, array] : file.tensors) {
    const semfield::Array& other = again.tensors.at(name);
    if (other.dtype != array.dtype || other.shape != array.shape || other.data != array.data) std::abort();
  }
  return 0;
}
