// .safetensors read (validated header, offsets and sizes) and atomic write (sorted, 8-byte padded header).
#include "semfield/io/safetensors.h"

#include <algorithm>
#include <limits>
#include <optional>

#include <nlohmann/json.hpp>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/json_reader.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

// A header this large is not a tensor index but a malformed (or hostile) file; refuse before parsing it.
constexpr uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;
constexpr const char* kMetadataKey = "__metadata__";

std::optional<DType> dtype_from_name(const std::string& name) {
  static const DType kAll[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32,
                               DType::I16, DType::I8,  DType::U8,  DType::U16,  DType::Bool};
  for (const DType d : kAll)
    if (dtype_name(d) == name) return d;
  return std::nullopt;
}

struct Entry {
  std::string name;
  uint64_t begin = 0, end = 0;
  Array array;  // without data until every range is validated
};

}  // namespace

SafetensorsFile parse_safetensors(const uint8_t* data, size_t size, const fs::path& origin) {
  if (size < 8)
    fail_input(origin, "header", "truncated file ({} bytes; a .safetensors file starts with an 8-byte header "
                                 "length)", size);
  uint64_t header_len = 0;
  for (int i = 0; i < 8; ++i) header_len |= static_cast<uint64_t>(data[i]) << (8 * i);
  if (header_len > kMaxHeaderBytes)
    fail_input(origin, "header", "header length {} is larger than the 100 MB limit (not a .safetensors file?)",
               header_len);
  if (header_len > size - 8)
    fail_input(origin, "header", "header length {} is larger than the rest of the file ({} bytes; truncated?)",
               header_len, size - 8);
  const uint8_t* const payload = data + 8 + header_len;
  const uint64_t payload_size = size - 8 - header_len;

  const JsonNode root =
      JsonNode::parse_text(std::string(reinterpret_cast<const char*>(data + 8), header_len), origin);
  if (!root.is_object()) root.fail("expected the header to be a JSON object of tensors");

  SafetensorsFile file;
  std::vector<Entry> entries;
  for (const std::string& name : root.keys()) {
    const JsonNode node = root.at(name);
    if (name == kMetadataKey) {
      if (node.is_null()) continue;
      if (!node.is_object()) node.fail("expected an object of strings");
      for (const std::string& key : node.keys()) file.metadata[key] = node.at(key).as_string();
      continue;
    }
    if (!node.is_object()) node.fail("expected a tensor entry {\"dtype\", \"shape\", \"data_offsets\"}");
    node.reject_unknown_keys({"dtype", "shape", "data_offsets"});

    const JsonNode dtype_node = node.at("dtype");
    const std::string dtype_text = dtype_node.as_string();
    const std::optional<DType> dtype = dtype_from_name(dtype_text);
    if (!dtype)
      dtype_node.fail(fmt::format("unsupported dtype '{}' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 U16 "
                                  "BOOL)", dtype_text));

    const JsonNode shape_node = node.at("shape");
    Array array;
    array.dtype = *dtype;
    array.shape.resize(shape_node.size());
    for (size_t i = 0; i < array.shape.size(); ++i) {
      const JsonNode dim = shape_node.at(i);
      const int64_t d = dim.as_int();
      if (d < 0) dim.fail(fmt::format("negative dimension {}", d));
      array.shape[i] = d;
    }
    // Overflow-safe byte count (a zero dimension makes the tensor empty whatever the others say).
    uint64_t n_bytes = dtype_size(*dtype);
    bool too_big = false;
    for (const int64_t d : array.shape) {
      if (d == 0) {
        n_bytes = 0;
        too_big = false;
        break;
      }
      if (!too_big && n_bytes > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(d)) too_big = true;
      if (!too_big) n_bytes *= static_cast<uint64_t>(d);
    }

    const JsonNode offsets_node = node.at("data_offsets");
    if (offsets_node.size() != 2) offsets_node.fail(fmt::format("expected [begin, end], got {} entries",
                                                                offsets_node.size()));
    const int64_t begin = offsets_node.at(size_t{0}).as_int();
    const int64_t end = offsets_node.at(size_t{1}).as_int();
    if (begin < 0 || end < begin)
      offsets_node.fail(fmt::format("invalid range [{}, {}] (need 0 <= begin <= end)", begin, end));
    if (static_cast<uint64_t>(end) > payload_size)
      offsets_node.fail(fmt::format("range [{}, {}] runs past the data section ({} bytes; truncated file?)",
                                    begin, end, payload_size));
    const uint64_t span = static_cast<uint64_t>(end - begin);
    if (too_big || span != n_bytes)
      offsets_node.fail(fmt::format("range [{}, {}] holds {} bytes but shape [{}] of {} needs {}", begin, end,
                                    span, fmt::join(array.shape, ", "), dtype_text,
                                    too_big ? std::string("more than 2^64") : std::to_string(n_bytes)));
    entries.push_back({name, static_cast<uint64_t>(begin), static_cast<uint64_t>(end), std::move(array)});
  }

  // Tensors must not share bytes: sort the ranges by start and require each non-empty one to begin at or
  // after the previous non-empty one's end. Copying only after this check bounds memory by the file size.
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  const Entry* prev = nullptr;
  for (const Entry& cur : entries) {
    if (cur.begin == cur.end) continue;
    if (prev && cur.begin < prev->end)
      fail_input(origin, cur.name + ".data_offsets", "range [{}, {}] overlaps tensor '{}' [{}, {}]", cur.begin,
                 cur.end, prev->name, prev->begin, prev->end);
    prev = &cur;
  }
  for (Entry& e : entries) {
    e.array.data.assign(payload + e.begin, payload + e.end);
    file.tensors.emplace(e.name, std::move(e.array));
  }
  return file;
}

SafetensorsFile read_safetensors(const fs::path& path) {
  const std::vector<uint8_t> bytes = read_file_bytes(path);
  return parse_safetensors(bytes.data(), bytes.size(), path);
}

std::vector<uint8_t> serialize_safetensors(const SafetensorsFile& file) {
  // ordered_json keeps "__metadata__" first and the entry keys in the conventional order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto& [key, value] : file.metadata) meta[key] = value;
    header[kMetadataKey] = std::move(meta);
  }
  uint64_t offset = 0;
  for (const auto& [name, array] : file.tensors) {
    if (name == kMetadataKey) fail_usage("cannot write a tensor named '{}' (reserved for metadata)", name);
    SEMFIELD_ASSERT(array.data.size() == static_cast<size_t>(array.numel()) * dtype_size(array.dtype),
                    "serialize_safetensors: data size does not match shape and dtype");
    nlohmann::ordered_json entry = nlohmann::ordered_json::object();
    entry["dtype"] = dtype_name(array.dtype);
    entry["shape"] = array.shape;
    entry["data_offsets"] = {offset, offset + array.data.size()};
    header[name] = std::move(entry);
    offset += array.data.size();
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::type_error& e) {
    fail_usage("cannot write .safetensors: a tensor name or metadata string is not valid UTF-8 ({})", e.what());
  }
  // Padding the header to a multiple of 8 keeps every tensor's data 8-byte aligned in a mapped file.
  text.append((8 - text.size() % 8) % 8, ' ');

  std::vector<uint8_t> out;
  out.reserve(8 + text.size() + offset);
  const uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<uint8_t>((len >> (8 * i)) & 0xff));
  out.insert(out.end(), text.begin(), text.end());
  for (const auto& [name, array] : file.tensors) out.insert(out.end(), array.data.begin(), array.data.end());
  return out;
}

void write_safetensors(const fs::path& path, const SafetensorsFile& file) {
  const std::vector<uint8_t> bytes = serialize_safetensors(file);
  write_file_atomic(path, bytes.data(), bytes.size());
}

}  // namespace semfield
