// Checkpoint files: save/load named tensors plus JSON metadata with a checksummed, versioned header.
//
// Layout (all integers little-endian):
//   offset  0  8 bytes  magic "SEMFCKPT"
//   offset  8  u32      format version (1)
//   offset 12  u32      header flags (0; no flag is defined yet, readers reject unknown ones)
//   offset 16  u64      payload size in bytes (= file size - 32)
//   offset 24  u32      CRC-32 of the payload
//   offset 28  u32      reserved (0)
//   offset 32  payload: u64 JSON length, JSON text, zero padding up to a 64-byte file offset, data section.
// The JSON is {"kind": str, "metadata": any, "tensors": [{"name", "dtype", "shape", "offset", "nbytes"}]};
// a tensor's bytes sit at data section start + offset (a multiple of 64, so the data could be mapped in
// place), C-contiguous, host (little-endian) byte order.
#include "semfield/io/checkpoint.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <limits>
#include <set>
#include <vector>

#include "semfield/core/crc32.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/json_reader.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the checkpoint format stores tensor bytes in host order, which must be little-endian");

namespace semfield {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'S', 'E', 'M', 'F', 'C', 'K', 'P', 'T'};
constexpr size_t kHeaderSize = 32;
constexpr uint64_t kAlignment = 64;

struct DTypeInfo {
  at::ScalarType type;
  const char* name;
};

constexpr std::array<DTypeInfo, 10> kDTypes = {{
    {at::kFloat, "float32"},
    {at::kHalf, "float16"},
    {at::kBFloat16, "bfloat16"},
    {at::kDouble, "float64"},
    {at::kLong, "int64"},
    {at::kInt, "int32"},
    {at::kShort, "int16"},
    {at::kChar, "int8"},
    {at::kByte, "uint8"},
    {at::kBool, "bool"},
}};

const char* dtype_to_name(at::ScalarType type) {
  for (const auto& d : kDTypes)
    if (d.type == type) return d.name;
  return nullptr;
}

bool dtype_from_name(const std::string& name, at::ScalarType* type) {
  for (const auto& d : kDTypes) {
    if (name == d.name) {
      *type = d.type;
      return true;
    }
  }
  return false;
}

std::string supported_dtype_names() {
  std::string out;
  for (const auto& d : kDTypes) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

uint64_t align_up(uint64_t value) { return (value + kAlignment - 1) / kAlignment * kAlignment; }

template <typename T>
void put_le(uint8_t* out, T value) {
  for (size_t i = 0; i < sizeof(T); ++i) out[i] = static_cast<uint8_t>(static_cast<uint64_t>(value) >> (8 * i));
}

template <typename T>
T get_le(const uint8_t* in) {
  uint64_t value = 0;
  for (size_t i = 0; i < sizeof(T); ++i) value |= static_cast<uint64_t>(in[i]) << (8 * i);
  return static_cast<T>(value);
}

/// One tensor ready to be written: contiguous CPU data and its place in the data section.
struct PendingTensor {
  std::string name;
  at::Tensor data;
  uint64_t offset = 0;
  uint64_t nbytes = 0;
};

/// First bytes of a foreign file rendered readably, e.g. 'PK\x03\x04...'.
std::string describe_magic(const uint8_t* bytes, size_t n) {
  std::string out = "'";
  for (size_t i = 0; i < std::min<size_t>(n, 8); ++i) {
    const uint8_t c = bytes[i];
    if (c >= 0x20 && c < 0x7f && c != '\'' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += fmt::format("\\x{:02x}", c);
    }
  }
  return out + "'";
}

/// Names well-known formats people mistake for a semfield checkpoint.
std::string guess_foreign_format(const uint8_t* bytes, size_t n) {
  if (n >= 4 && std::memcmp(bytes, "PK\x03\x04", 4) == 0)
    return "; it looks like a zip archive, e.g. a PyTorch .pth/.pt file — convert it with the matching "
           "semfield import command";
  if (n >= 6 && std::memcmp(bytes, "\x93NUMPY", 6) == 0) return "; it looks like a NumPy .npy file";
  if (n >= 9 && bytes[8] == '{') {
    const uint64_t header_len = get_le<uint64_t>(bytes);
    if (header_len > 0 && header_len <= n - 8) return "; it looks like a .safetensors file";
  }
  if (n >= 2 && bytes[0] == 0x80 && bytes[1] >= 2 && bytes[1] <= 5)
    return "; it looks like a Python pickle (an old-style PyTorch checkpoint)";
  return "";
}

/// Checks the 32-byte header against the file size; returns the payload size.
uint64_t check_header(const fs::path& path, const std::vector<uint8_t>& bytes) {
  const size_t n = bytes.size();
  // A file whose first bytes already differ from the magic is foreign, however short it is; only a
  // prefix of a real checkpoint is reported as truncated.
  const size_t magic_bytes = std::min<size_t>(n, sizeof(kMagic));
  if (n > 0 && std::memcmp(bytes.data(), kMagic, magic_bytes) != 0)
    fail_input(path, "", "not a semfield checkpoint (magic {}, expected 'SEMFCKPT'){}",
               describe_magic(bytes.data(), n), guess_foreign_format(bytes.data(), n));
  if (n < kHeaderSize)
    fail_input(path, "", "truncated: {} bytes{}, header needs {}", n, n == 0 ? " (empty file)" : "",
               kHeaderSize);

  const auto version = get_le<uint32_t>(&bytes[8]);
  if (version > static_cast<uint32_t>(kCheckpointVersion))
    fail_input(path, "", "checkpoint format version {} is newer than this build supports ({}); "
               "update semfield to read it", version, kCheckpointVersion);
  if (version == 0) fail_input(path, "", "corrupted: invalid checkpoint format version 0");
  const auto flags = get_le<uint32_t>(&bytes[12]);
  if (flags != 0) fail_input(path, "", "unsupported checkpoint header flags 0x{:08x} (expected 0)", flags);
  if (get_le<uint32_t>(&bytes[28]) != 0) fail_input(path, "", "corrupted: reserved header bytes are not zero");

  const auto payload_size = get_le<uint64_t>(&bytes[16]);
  const uint64_t available = n - kHeaderSize;
  if (payload_size != available) {
    const uint64_t expected = payload_size > std::numeric_limits<uint64_t>::max() - kHeaderSize
                                  ? std::numeric_limits<uint64_t>::max()
                                  : payload_size + kHeaderSize;
    if (payload_size > available) fail_input(path, "", "truncated: expected {} bytes, file has {}", expected, n);
    fail_input(path, "", "corrupted: {} unexpected bytes after the payload (expected {} bytes, file has {})",
               available - payload_size, expected, n);
  }
  const auto stored_crc = get_le<uint32_t>(&bytes[24]);
  const uint32_t actual_crc = crc32(bytes.data() + kHeaderSize, payload_size);
  if (stored_crc != actual_crc)
    fail_input(path, "", "corrupted: checksum mismatch (stored {:08x}, computed {:08x})", stored_crc, actual_crc);
  return payload_size;
}

/// A validated tensor table entry, not yet copied out.
struct TableEntry {
  std::string name;
  at::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t offset;
  uint64_t nbytes;
};

uint64_t read_size(const JsonNode& node) {
  const int64_t value = node.as_int();
  if (value < 0) node.fail(fmt::format("expected a non-negative integer, got {}", value));
  return static_cast<uint64_t>(value);
}

TableEntry read_table_entry(const JsonNode& entry, uint64_t data_size) {
  entry.reject_unknown_keys({"name", "dtype", "shape", "offset", "nbytes"});
  TableEntry out;
  out.name = entry.at("name").as_string();
  const JsonNode dtype = entry.at("dtype");
  if (!dtype_from_name(dtype.as_string(), &out.dtype))
    dtype.fail(fmt::format("tensor '{}': unknown dtype '{}' (supported: {})", out.name, dtype.as_string(),
                           supported_dtype_names()));
  const JsonNode shape = entry.at("shape");
  const size_t itemsize = at::elementSize(out.dtype);
  // A crafted shape must not wrap around: the product of the non-zero dims times the item size has to
  // fit in int64 (LibTorch computes it too), even when another dim is zero.
  uint64_t nonzero_bytes = itemsize;
  bool has_zero = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    const JsonNode dim_node = shape.at(i);
    const uint64_t dim = read_size(dim_node);
    out.shape.push_back(static_cast<int64_t>(dim));
    has_zero = has_zero || dim == 0;
    if (dim > 1 && nonzero_bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) / dim)
      dim_node.fail(fmt::format("tensor '{}': shape [{}] is too large", out.name, fmt::join(out.shape, ", ")));
    if (dim > 1) nonzero_bytes *= dim;
  }
  const uint64_t expected_bytes = has_zero ? 0 : nonzero_bytes;
  const JsonNode nbytes = entry.at("nbytes");
  out.nbytes = read_size(nbytes);
  if (expected_bytes != out.nbytes)
    nbytes.fail(fmt::format("tensor '{}': byte size {} does not match shape [{}] of {} ({} bytes each)",
                            out.name, out.nbytes, fmt::join(out.shape, ", "), dtype.as_string(), itemsize));
  const JsonNode offset = entry.at("offset");
  out.offset = read_size(offset);
  if (out.offset > data_size || out.nbytes > data_size - out.offset)
    offset.fail(fmt::format("tensor '{}': bytes [{}, {}) lie outside the data section ({} bytes)", out.name,
                            out.offset, out.offset + out.nbytes, data_size));
  return out;
}

}  // namespace

void save_checkpoint(const fs::path& path, const Checkpoint& checkpoint) {
  std::vector<PendingTensor> pending;
  nlohmann::json table = nlohmann::json::array();
  uint64_t data_size = 0;
  for (const auto& [name, tensor] : checkpoint.tensors) {
    SEMFIELD_ASSERT(tensor.defined(), fmt::format("checkpoint {}: tensor '{}' is undefined", path.string(), name));
    const char* dtype = dtype_to_name(tensor.scalar_type());
    SEMFIELD_ASSERT(dtype != nullptr, fmt::format("checkpoint {}: tensor '{}' has unsupported dtype {} "
                                                  "(supported: {})", path.string(), name,
                                                  c10::toString(tensor.scalar_type()), supported_dtype_names()));
    PendingTensor p;
    p.name = name;
    p.data = tensor.detach().to(at::kCPU).contiguous();
    p.offset = align_up(data_size);
    p.nbytes = static_cast<uint64_t>(p.data.numel()) * p.data.element_size();
    data_size = p.offset + p.nbytes;
    table.push_back({{"name", name},
                     {"dtype", dtype},
                     {"shape", p.data.sizes().vec()},
                     {"offset", p.offset},
                     {"nbytes", p.nbytes}});
    pending.push_back(std::move(p));
  }

  const nlohmann::json doc = {{"kind", checkpoint.kind}, {"metadata", checkpoint.metadata}, {"tensors", table}};
  std::string json_text;
  try {
    json_text = doc.dump();
  } catch (const nlohmann::json::exception& e) {
    // The only way dump fails is a string that is not valid UTF-8.
    fail_input(path, "metadata", "cannot be written as JSON: {}", e.what());
  }

  const uint64_t json_end = kHeaderSize + 8 + json_text.size();
  const uint64_t json_padding = align_up(json_end) - json_end;
  const uint64_t payload_size = 8 + json_text.size() + json_padding + data_size;

  // The payload is visited twice, once for the checksum and once to write it, so it never has to be
  // assembled in memory.
  static const std::array<uint8_t, kAlignment> zeros{};
  uint8_t json_length[8];
  put_le<uint64_t>(json_length, json_text.size());
  const auto visit_payload = [&](const std::function<void(const void*, size_t)>& emit) {
    emit(json_length, sizeof(json_length));
    emit(json_text.data(), json_text.size());
    emit(zeros.data(), json_padding);
    uint64_t cursor = 0;
    for (const auto& p : pending) {
      emit(zeros.data(), p.offset - cursor);
      if (p.nbytes > 0) emit(p.data.data_ptr(), p.nbytes);
      cursor = p.offset + p.nbytes;
    }
  };
  uint32_t crc = 0;
  visit_payload([&](const void* data, size_t size) { crc = crc32(data, size, crc); });

  uint8_t header[kHeaderSize] = {};
  std::memcpy(header, kMagic, sizeof(kMagic));
  put_le<uint32_t>(header + 8, kCheckpointVersion);
  put_le<uint32_t>(header + 12, 0);
  put_le<uint64_t>(header + 16, payload_size);
  put_le<uint32_t>(header + 24, crc);
  put_le<uint32_t>(header + 28, 0);

  write_file_atomic(path, [&](std::ostream& out) {
    out.write(reinterpret_cast<const char*>(header), sizeof(header));
    visit_payload([&](const void* data, size_t size) {
      out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    });
  });
}

Checkpoint load_checkpoint(const fs::path& path, const std::string& expected_kind) {
  return parse_checkpoint(read_file_bytes(path), path, expected_kind);
}

Checkpoint parse_checkpoint(const std::vector<uint8_t>& bytes, const fs::path& path,
                            const std::string& expected_kind) {
  const uint64_t payload_size = check_header(path, bytes);

  // From here on the checksum holds, so a failure means the writer was not semfield (or a buggy one).
  const uint8_t* payload = bytes.data() + kHeaderSize;
  if (payload_size < 8) fail_input(path, "", "malformed: payload of {} bytes has no metadata length", payload_size);
  const auto json_size = get_le<uint64_t>(payload);
  if (json_size > payload_size - 8)
    fail_input(path, "", "malformed: metadata length {} exceeds the payload ({} bytes)", json_size, payload_size - 8);
  const uint64_t data_start = align_up(kHeaderSize + 8 + json_size);
  if (data_start > bytes.size())
    fail_input(path, "", "malformed: data section starts at byte {}, past the end of the file ({} bytes)",
               data_start, bytes.size());
  const uint64_t data_size = bytes.size() - data_start;

  const JsonNode doc =
      JsonNode::parse_text(std::string(reinterpret_cast<const char*>(payload + 8), json_size), path);
  if (!doc.is_object()) doc.fail("expected the checkpoint metadata to be a JSON object");
  doc.reject_unknown_keys({"kind", "metadata", "tensors"});
  Checkpoint checkpoint;
  checkpoint.kind = doc.at("kind").as_string();
  checkpoint.metadata = doc.at("metadata").raw();

  const JsonNode table = doc.at("tensors");
  std::vector<TableEntry> entries;
  std::set<std::string> names;
  for (size_t i = 0; i < table.size(); ++i) {
    const JsonNode entry = table.at(i);
    entries.push_back(read_table_entry(entry, data_size));
    if (!names.insert(entries.back().name).second)
      entry.at("name").fail(fmt::format("duplicate tensor name '{}'", entries.back().name));
  }

  if (!expected_kind.empty() && checkpoint.kind != expected_kind)
    fail_input(path, "kind", "expected a {} checkpoint, got {}", expected_kind, checkpoint.kind);

  for (const auto& e : entries) {
    const uint8_t* src = bytes.data() + data_start + e.offset;
    if (e.dtype == at::kBool) {
      // Any byte other than 0/1 is not a valid bool and would be undefined behaviour once read.
      for (uint64_t i = 0; i < e.nbytes; ++i)
        if (src[i] > 1)
          fail_input(path, "tensors", "tensor '{}': bool element {} holds byte value {}", e.name, i, src[i]);
    }
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dtype));
    if (e.nbytes > 0) std::memcpy(t.data_ptr(), src, e.nbytes);
    checkpoint.tensors.emplace(e.name, std::move(t));
  }
  return checkpoint;
}

}  // namespace semfield
