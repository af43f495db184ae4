// Tests for corpora: scene discovery, the split by scene, corpus.json and its errors.
#include "semfield/data/corpus.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "scene_test_util.h"
#include "support/test_support.h"

namespace semfield {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A folder that load_scene would take for a NeRF-synthetic scene (only detection is exercised here).
void fake_scene(const fs::path& dir) {
  fs::create_directories(dir);
  test::write_text(dir / "transforms_train.json", R"({"camera_angle_x": 0.7, "frames": []})");
}

std::vector<std::string> names(const std::vector<CorpusScene>& scenes) {
  std::vector<std::string> out;
  for (const auto& s : scenes) out.push_back(s.name);
  return out;
}

TEST(Corpus, ScenesSortedAndEveryTenthFromTheLastHeldOut) {
  test::TempDir tmp;
  for (int i = 11; i >= 0; --i) fake_scene(tmp.path() / fmt::format("scene_{:03d}", i));
  fs::create_directories(tmp.path() / "not_a_scene");
  fs::create_directories(tmp.path() / ".cache");
  test::write_text(tmp.path() / "README.txt", "notes");
  test::LogCapture log;
  const Corpus corpus = load_corpus(tmp.path());
  // A sub-folder without a scene (an interrupted synth leaves one) is left out with a warning naming it; hidden
  // folders and files are not mentioned.
  EXPECT_THAT(log.text(), HasSubstr("1 sub-folder(s) hold no scene and are left out: not_a_scene"));
  EXPECT_THAT(log.text(), ::testing::Not(HasSubstr(".cache")));
  EXPECT_EQ(corpus.train.size() + corpus.val.size(), 12u);
  EXPECT_EQ(names(corpus.val), (std::vector<std::string>{"scene_001", "scene_011"}));
  EXPECT_EQ(corpus.train.front().name, "scene_000");
  EXPECT_EQ(corpus.train.back().name, "scene_010");
  EXPECT_EQ(corpus.train.front().path, tmp.path() / "scene_000");
  CorpusOptions every3;
  every3.val_every = 3;
  EXPECT_EQ(names(load_corpus(tmp.path(), every3).val),
            (std::vector<std::string>{"scene_002", "scene_005", "scene_008", "scene_011"}));
  CorpusOptions none;
  none.val_every = 0;
  EXPECT_TRUE(load_corpus(tmp.path(), none).val.empty());
}

TEST(Corpus, SmallCorporaKeepOneOut) {
  test::TempDir tmp;
  fake_scene(tmp.path() / "a");
  EXPECT_TRUE(load_corpus(tmp.path()).val.empty());  // one scene: nothing to hold out
  fake_scene(tmp.path() / "b");
  fake_scene(tmp.path() / "c");
  const Corpus corpus = load_corpus(tmp.path());
  EXPECT_EQ(names(corpus.train), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(names(corpus.val), (std::vector<std::string>{"c"}));
}

TEST(Corpus, SplitFileNamesTheSplit) {
  test::TempDir tmp;
  for (const char* n : {"kitchen", "garden", "room"}) fake_scene(tmp.path() / n);
  test::write_text(tmp.path() / "corpus.json", R"({"train": ["room", "kitchen"], "val": ["garden"]})");
  const Corpus corpus = load_corpus(tmp.path());
  EXPECT_EQ(names(corpus.train), (std::vector<std::string>{"room", "kitchen"}));
  EXPECT_EQ(names(corpus.val), (std::vector<std::string>{"garden"}));

  auto error_with = [&](const std::string& text) {
    test::write_text(tmp.path() / "corpus.json", text);
    return test::error_of([&] { load_corpus(tmp.path()); });
  };
  EXPECT_THAT(error_with(R"({"train": ["attic"]})"), HasSubstr("'attic' is not a scene folder"));
  EXPECT_THAT(error_with(R"({"train": ["room"], "val": ["room"]})"), HasSubstr("'room' is listed twice"));
  EXPECT_THAT(error_with(R"({"train": "room"})"), HasSubstr("expected an array"));
  EXPECT_THAT(error_with(R"({"val": ["room"]})"), HasSubstr("names no training scene"));
  EXPECT_THAT(error_with(R"({"train": ["room"], "test": []})"), HasSubstr("test"));
  EXPECT_THAT(error_with(R"([1, 2])"), HasSubstr("corpus.json"));
}

TEST(Corpus, MissingOrEmptyFoldersAreNamed) {
  test::TempDir tmp;
  EXPECT_THAT(test::error_of([&] { load_corpus(tmp.path() / "nope"); }), HasSubstr("corpus folder not found"));
  EXPECT_THAT(test::error_of([&] { load_corpus(tmp.path()); }), HasSubstr("no scene folders"));
  fs::create_directories(tmp.path() / "colmap_scene" / "sparse" / "0");
  for (const char* f : {"cameras.txt", "images.txt", "points3D.txt"}) test::write_text(tmp.path() / "colmap_scene" / "sparse" / "0" / f, "");
  EXPECT_EQ(load_corpus(tmp.path()).train.size(), 1u);  // any format counts
}

}  // namespace
}  // namespace semfield
