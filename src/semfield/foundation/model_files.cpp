// Locating a model's weight file and config.json.
#include "semfield/foundation/model_files.h"

#include <algorithm>
#include <vector>

#include "semfield/core/error.h"

namespace semfield::foundation {

namespace fs = std::filesystem;

ModelFiles locate_model_files(const fs::path& path) {
  ModelFiles files;
  if (fs::is_directory(path)) {
    for (const char* preferred : {"model.safetensors", "pytorch_model.bin"})
      if (fs::is_regular_file(path / preferred)) {
        files.weights = path / preferred;
        break;
      }
    if (files.weights.empty()) {
      std::vector<fs::path> candidates;
      for (const auto& entry : fs::directory_iterator(path)) {
        const std::string ext = entry.path().extension().string();
        if (entry.is_regular_file() && (ext == ".safetensors" || ext == ".pth" || ext == ".pt" || ext == ".bin"))
          candidates.push_back(entry.path());
      }
      std::sort(candidates.begin(), candidates.end());
      if (candidates.empty())
        fail_input(path, "", "no weight file (*.safetensors, *.pth, *.pt or *.bin) in this folder");
      if (candidates.size() > 1) {
        // The same weights as .pth and .safetensors side by side are common: prefer safetensors.
        std::vector<fs::path> st;
        for (const auto& c : candidates)
          if (c.extension() == ".safetensors") st.push_back(c);
        if (st.size() != 1)
          fail_input(path, "", "{} weight files in this folder ({}, {}, ...): name the one to use", candidates.size(),
                     candidates[0].filename().string(), candidates[1].filename().string());
        candidates = st;
      }
      files.weights = candidates.front();
    }
    files.directory = path;
  } else if (fs::is_regular_file(path)) {
    files.weights = path;
    files.directory = path.has_parent_path() ? path.parent_path() : fs::path(".");
  } else {
    fail_input(path, "", "model weights not found (expected a weight file or a folder holding one)");
  }
  if (fs::is_regular_file(files.directory / "config.json")) files.config = files.directory / "config.json";
  return files;
}

}  // namespace semfield::foundation
