// Shipped model files: one .safetensors file per trained model (models/<name>.safetensors in the repository),
// its weights as tensors and, in the header's "__metadata__" map under "semfield", a JSON document:
//   {"name": ..., "type": registry key, "config": the type's config, "info": {what it was trained on, recipe,
//    validation curve, ...}}
// so that a model is one self-describing file any safetensors reader opens.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "semfield/core/tensor_state.h"

namespace semfield {

struct ModelFile {
  std::string name;
  std::string type;          ///< models/registry.h key
  nlohmann::json config;     ///< the type's config
  nlohmann::json info;       ///< free-form: trained_on, recipe, steps, validation, ...
  TensorMap weights;
  std::filesystem::path path;  ///< where it was read from
};

/// Writes atomically. Weights are stored as float32 contiguous CPU tensors.
void write_model_file(const std::filesystem::path& path, const ModelFile& model);
/// Reads a model file; with weights=false only its header (for listings). InputError naming the file for a
/// file that is not a semfield model (no or malformed "semfield" metadata) or a broken safetensors file.
ModelFile read_model_file(const std::filesystem::path& path, bool weights = true);

/// The folder shipped models are looked up in: $SEMFIELD_MODELS when set, else `fallback` (the CLI passes the
/// repository's models/ folder).
std::filesystem::path models_dir(const std::filesystem::path& fallback);
/// `name_or_path`: an existing file, or the name of a model in `dir` (<dir>/<name>.safetensors). UsageError
/// listing the models of `dir` otherwise.
std::filesystem::path resolve_model(const std::string& name_or_path, const std::filesystem::path& dir);
/// Headers of every *.safetensors model in `dir` (sorted by name); files that are not semfield models are skipped
/// with a warning.
std::vector<ModelFile> list_models(const std::filesystem::path& dir);

}  // namespace semfield
