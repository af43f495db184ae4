// Where a foundation model's files are: the weight file, the config.json beside it, tokenizer files.
#pragma once

#include <filesystem>
#include <optional>

namespace semfield::foundation {

struct ModelFiles {
  std::filesystem::path weights;                ///< the weight file
  std::optional<std::filesystem::path> config;  ///< config.json in the same folder, if present
  std::filesystem::path directory;              ///< the folder holding the weights (tokenizer files are looked up here)
};

/// `path` is a weight file or a folder. A folder must hold exactly one weight file, preferring (in order)
/// model.safetensors, pytorch_model.bin, then the only *.safetensors / *.pth / *.pt / *.bin. Throws
/// InputError naming the path when nothing (or more than one candidate) is found.
ModelFiles locate_model_files(const std::filesystem::path& path);

}  // namespace semfield::foundation
