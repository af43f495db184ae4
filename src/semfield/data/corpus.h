// A corpus: the scenes a generalizable model trains on. A folder of scene folders (any format load_scene reads;
// `semfield synth --scenes K` writes one), split by scene into train and validation, so validation measures
// rendering of scenes the model never saw.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace semfield {

struct CorpusScene {
  std::string name;             ///< the folder's name
  std::filesystem::path path;
};

struct Corpus {
  std::filesystem::path root;
  std::vector<CorpusScene> train, val;
};

struct CorpusOptions {
  /// Without a split file: every val_every-th scene (sorted by name, starting with the last) is validation;
  /// 0 = none. A corpus of one scene has no validation scene.
  int val_every = 10;
};

/// Reads a corpus folder: its scene folders (data/scene.h is_scene_folder), sorted by name. ROOT/corpus.json, when
/// present, names the split: {"train": [names], "val": [names]} (every name a scene folder of ROOT). Throws
/// InputError for a missing folder, a folder without scenes, or a malformed corpus.json (naming the key).
Corpus load_corpus(const std::filesystem::path& root, const CorpusOptions& options = {});

}  // namespace semfield
