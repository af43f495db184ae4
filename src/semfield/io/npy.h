// NumPy .npy files (format 1.0/2.0/3.0): read and atomic write.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "semfield/io/array.h"

namespace semfield {

/// Reads a .npy: dtypes <f4 <f2 <f8 |u1 |i1 <u2 <i2 <i4 <i8 |b1 ('<' or '|' or '='), C order only.
/// Throws InputError naming the file and the problem: bad magic, malformed header, Fortran order,
/// big-endian or unsupported dtype, truncated data.
Array read_npy(const std::filesystem::path& path);
/// Same, from bytes already in memory (used by the fuzzer); `origin` names them in errors.
Array parse_npy(const uint8_t* data, size_t size, const std::filesystem::path& origin);
/// Writes format 1.0 atomically.
void write_npy(const std::filesystem::path& path, const Array& array);
std::vector<uint8_t> serialize_npy(const Array& array);

}  // namespace semfield
