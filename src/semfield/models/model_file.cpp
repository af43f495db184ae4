// Shipped model files.
#include "semfield/models/model_file.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include <ATen/ATen.h>
#include <fmt/ranges.h>

#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/safetensors.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

constexpr const char* kMetadataKey = "semfield";

/// Reads only the JSON header of a safetensors file (listing many models should not read their weights).
nlohmann::json read_header(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_input(path, "", "cannot open the model file");
  uint8_t size_bytes[8] = {};
  in.read(reinterpret_cast<char*>(size_bytes), 8);
  if (in.gcount() != 8) fail_input(path, "", "truncated safetensors file (no header length)");
  uint64_t size = 0;
  for (int i = 7; i >= 0; --i) size = (size << 8) | size_bytes[i];
  if (size > (64u << 20)) fail_input(path, "", fmt::format("implausible safetensors header length {}", size));
  std::string text(size, '\0');
  in.read(text.data(), static_cast<std::streamsize>(size));
  if (static_cast<uint64_t>(in.gcount()) != size) fail_input(path, "", "truncated safetensors header");
  try {
    return nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail_input(path, "", fmt::format("malformed safetensors header: {}", e.what()));
  }
}

ModelFile from_metadata(const std::string& text, const fs::path& path) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    fail_input(path, "__metadata__.semfield", fmt::format("malformed JSON: {}", e.what()));
  }
  ModelFile m;
  m.path = path;
  if (!doc.is_object() || !doc.contains("type") || !doc["type"].is_string())
    fail_input(path, "__metadata__.semfield.type", "missing model type");
  m.type = doc["type"].get<std::string>();
  m.name = doc.value("name", path.stem().string());
  m.config = doc.value("config", nlohmann::json::object());
  m.info = doc.value("info", nlohmann::json::object());
  return m;
}

}  // namespace

void write_model_file(const fs::path& path, const ModelFile& model) {
  SafetensorsFile file;
  for (const auto& [name, tensor] : model.weights)
    file.tensors[name] = tensor_to_array(tensor.detach().to(at::kFloat).contiguous());
  file.metadata[kMetadataKey] =
      nlohmann::json{{"name", model.name}, {"type", model.type}, {"config", model.config}, {"info", model.info}}
          .dump();
  write_safetensors(path, file);
}

ModelFile read_model_file(const fs::path& path, bool weights) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) fail_input(path, "", "model file not found");
  if (!weights) {
    const nlohmann::json header = read_header(path);
    const auto meta = header.find("__metadata__");
    if (meta == header.end() || !meta->is_object() || !meta->contains(kMetadataKey) ||
        !(*meta)[kMetadataKey].is_string())
      fail_input(path, "__metadata__.semfield", "not a semfield model file");
    return from_metadata((*meta)[kMetadataKey].get<std::string>(), path);
  }
  const SafetensorsFile file = read_safetensors(path);
  const auto it = file.metadata.find(kMetadataKey);
  if (it == file.metadata.end()) fail_input(path, "__metadata__.semfield", "not a semfield model file");
  ModelFile m = from_metadata(it->second, path);
  for (const auto& [name, array] : file.tensors) m.weights[name] = array_to_tensor(array);
  return m;
}

fs::path models_dir(const fs::path& fallback) {
  const char* env = std::getenv("SEMFIELD_MODELS");
  return env && *env ? fs::path(env) : fallback;
}

fs::path resolve_model(const std::string& name_or_path, const fs::path& dir) {
  std::error_code ec;
  if (fs::is_regular_file(name_or_path, ec)) return name_or_path;
  const fs::path named = dir / (name_or_path + ".safetensors");
  if (fs::is_regular_file(named, ec)) return named;
  std::vector<std::string> names;
  if (fs::is_directory(dir, ec))
    for (const auto& entry : fs::directory_iterator(dir, ec))
      if (entry.path().extension() == ".safetensors") names.push_back(entry.path().stem().string());
  std::sort(names.begin(), names.end());
  fail_usage("--model '{}': no such file, and no model of that name in {} ({})", name_or_path, dir.string(),
             names.empty() ? std::string("it has none") : fmt::format("it has: {}", fmt::join(names, ", ")));
}

std::vector<ModelFile> list_models(const fs::path& dir) {
  std::vector<ModelFile> out;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return out;
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.path().extension() == ".safetensors") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    try {
      out.push_back(read_model_file(f, false));
    } catch (const InputError& e) {
      log::warn("skipping {}: {}", f.string(), e.what());
    }
  }
  return out;
}

}  // namespace semfield
