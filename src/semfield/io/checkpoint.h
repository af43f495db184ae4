// Versioned checkpoint files: a fixed header (magic, format version, flags, payload size, CRC-32), a JSON
// block (kind, metadata, tensor table), and named tensors (layout in checkpoint_torch.cpp). Written
// atomically; truncated, foreign or corrupted files give a clear InputError naming the file and what is wrong.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <nlohmann/json.hpp>

namespace semfield {

struct Checkpoint {
  std::string kind;                          ///< e.g. "radiance_field", "feature_field"
  nlohmann::json metadata;                   ///< config, step, scene normalisation, ...
  std::map<std::string, at::Tensor> tensors; ///< CPU tensors of any dtype semfield uses
};

/// Current on-disk format version; readers accept versions <= this.
constexpr int kCheckpointVersion = 1;

void save_checkpoint(const std::filesystem::path& path, const Checkpoint& checkpoint);
/// Throws InputError: not a semfield checkpoint (bad magic), newer version, truncated, checksum mismatch,
/// malformed metadata, or (if expected_kind is non-empty) a different kind.
Checkpoint load_checkpoint(const std::filesystem::path& path, const std::string& expected_kind = "");
/// load_checkpoint on bytes already in memory; `origin` is the file named in error messages.
Checkpoint parse_checkpoint(const std::vector<uint8_t>& bytes, const std::filesystem::path& origin,
                            const std::string& expected_kind = "");

}  // namespace semfield
