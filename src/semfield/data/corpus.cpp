// Corpus folders: scene discovery and the split by scene.
#include "semfield/data/corpus.h"

#include <algorithm>
#include <set>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/log.h"
#include "semfield/data/scene.h"

namespace semfield {

namespace fs = std::filesystem;

Corpus load_corpus(const fs::path& root, const CorpusOptions& options) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) fail_input(root, "", "corpus folder not found");
  if (options.val_every < 0) fail_usage("corpus: val_every must be >= 0, got {}", options.val_every);
  std::vector<CorpusScene> scenes;
  std::vector<std::string> skipped;  // sub-folders that are not scenes (e.g. one whose generation was cut short)
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_scene_folder(entry.path())) {
      scenes.push_back({name, entry.path()});
    } else if (entry.is_directory() && !name.empty() && name[0] != '.') {
      skipped.push_back(name);
    }
  }
  if (ec) fail_input(root, "", "cannot list the folder: {}", ec.message());
  if (!skipped.empty()) {
    std::sort(skipped.begin(), skipped.end());
    std::string listed;
    for (size_t i = 0; i < std::min<size_t>(skipped.size(), 5); ++i) listed += (i ? ", " : "") + skipped[i];
    if (skipped.size() > 5) listed += fmt::format(", ... ({} in all)", skipped.size());
    log::warn("corpus {}: {} sub-folder(s) hold no scene and are left out: {} (a scene folder has transforms*.json, "
              "a COLMAP model or poses_bounds.npy; an interrupted `semfield synth` leaves such a folder)",
              root.string(), skipped.size(), listed);
  }
  std::sort(scenes.begin(), scenes.end(), [](const CorpusScene& a, const CorpusScene& b) { return a.name < b.name; });
  if (scenes.empty())
    fail_input(root, "", "no scene folders in this corpus (expected folders that load_scene reads, e.g. the "
                         "scene_000, scene_001, ... of `semfield synth --scenes K`)");
  Corpus corpus;
  corpus.root = root;
  const fs::path split_file = root / "corpus.json";
  if (fs::exists(split_file, ec)) {
    const JsonNode doc = JsonNode::parse_file(split_file);
    if (!doc.is_object()) doc.fail("expected an object with \"train\" and \"val\" arrays");
    doc.reject_unknown_keys({"train", "val"});
    std::set<std::string> seen;
    for (const char* key : {"train", "val"}) {
      if (!doc.has(key)) continue;
      const JsonNode list = doc.at(key);
      if (!list.is_array()) list.fail("expected an array of scene folder names");
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string name = list.at(i).as_string();
        const auto it = std::find_if(scenes.begin(), scenes.end(), [&](const CorpusScene& s) { return s.name == name; });
        if (it == scenes.end()) list.at(i).fail(fmt::format("'{}' is not a scene folder of {}", name, root.string()));
        if (!seen.insert(name).second) list.at(i).fail(fmt::format("'{}' is listed twice", name));
        (std::string(key) == "train" ? corpus.train : corpus.val).push_back(*it);
      }
    }
    if (corpus.train.empty()) fail_input(split_file, "train", "names no training scene");
    return corpus;
  }
  const size_t n = scenes.size();
  for (size_t i = 0; i < n; ++i) {
    // Counting from the last scene, so a corpus of 2..val_every scenes still holds one out.
    const bool val = options.val_every > 0 && n > 1 && (n - 1 - i) % static_cast<size_t>(options.val_every) == 0;
    (val ? corpus.val : corpus.train).push_back(scenes[i]);
  }
  return corpus;
}

}  // namespace semfield
