// .safetensors files: an 8-byte little-endian header length, a JSON header, then raw tensor bytes.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "semfield/io/array.h"

namespace semfield {

struct SafetensorsFile {
  std::map<std::string, Array> tensors;
  std::map<std::string, std::string> metadata;  ///< the optional "__metadata__" string map
};

/// Reads every tensor. Dtypes: F64 F32 F16 BF16 I64 I32 I16 I8 U8 U16 BOOL. Throws InputError naming the
/// file and tensor for a truncated file, bad header JSON, offsets out of range or overlapping, a shape
/// whose byte size does not match its offsets, or an unsupported dtype.
SafetensorsFile read_safetensors(const std::filesystem::path& path);
SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const std::filesystem::path& origin);
/// Writes atomically, tensors in name order, header padded to 8 bytes.
void write_safetensors(const std::filesystem::path& path, const SafetensorsFile& file);
std::vector<uint8_t> serialize_safetensors(const SafetensorsFile& file);

}  // namespace semfield
