// Weight files of foundation models -> name -> tensor maps: safetensors, torch.save zip checkpoints and
// TorchScript archives, recognised by their content.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "semfield/core/tensor_state.h"

namespace semfield::foundation {

enum class WeightFormat { Safetensors, TorchZip, TorchScript };

/// Recognises a weight file by its first bytes. Throws InputError naming the file and what it looks like
/// (a pre-1.6 torch.save pickle, a PNG, JSON, ...) when it is none of the supported formats.
WeightFormat detect_weight_format(const std::filesystem::path& path);

/// Reads every tensor of a weight file (CPU, dtypes as stored, contiguous):
///  - .safetensors (any extension): every tensor under its own name;
///  - torch.save zip checkpoints (.pth/.pt/.bin): the state dict, or the dict of tensors found under the first
///    of "state_dict", "model", "module", "teacher", "net" when the top level is a wrapper (training
///    checkpoints); nested dicts of tensors are flattened with "." joins;
///  - TorchScript archives (OpenAI CLIP .pt): the module's parameters and buffers.
/// Then strips a prefix shared by every name among "module." and "_orig_mod." (DDP / torch.compile wrappers).
/// Throws InputError naming the file for an unreadable, truncated or tensor-free file.
TensorMap load_weight_file(const std::filesystem::path& path);

/// Removes `prefix` from every name if every name starts with it; returns the map unchanged otherwise.
TensorMap strip_shared_prefix(TensorMap tensors, const std::string& prefix);

}  // namespace semfield::foundation
