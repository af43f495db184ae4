// Tests for the written synthetic datasets: layout, determinism, and the consistency of the ground truth
// across maps, labels and views.
#include "semfield/data/synth/synth_writer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/data/scene.h"
#include "semfield/io/image.h"
#include "support/test_support.h"
#include "unit/data/scene_test_util.h"

namespace {

namespace fs = std::filesystem;
using namespace semfield;
using nlohmann::json;
using ::testing::HasSubstr;

SynthConfig config_of(int resolution, int views, uint64_t seed) {
  SynthConfig config;
  config.resolution = resolution;
  config.n_views = views;
  config.seed = seed;
  return config;
}

json read_json(const fs::path& path) { return json::parse(read_file_text(path)); }

// Every regular file under `dir`, relative path -> bytes.
std::map<std::string, std::vector<uint8_t>> read_tree(const fs::path& dir) {
  std::map<std::string, std::vector<uint8_t>> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files[fs::relative(entry.path(), dir).string()] = read_file_bytes(entry.path());
  return files;
}

// One view as written: its camera from the transforms file and its maps read back from disk.
struct WrittenView {
  Camera camera;
  Image rgba, depth, instance, semantic;  // depth in world units
};

std::vector<WrittenView> read_split(const fs::path& dir, const std::string& split) {
  const json transforms = read_json(dir / ("transforms_" + split + ".json"));
  std::vector<WrittenView> views;
  for (const auto& frame : transforms["frames"]) {
    WrittenView view;
    auto& K = view.camera.intrinsics;
    K.width = transforms["w"];
    K.height = transforms["h"];
    K.fx = transforms["fl_x"];
    K.fy = transforms["fl_y"];
    K.cx = transforms["cx"];
    K.cy = transforms["cy"];
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) view.camera.c2w(r, c) = frame["transform_matrix"][r][c];
    int bits = 0;
    view.rgba = read_image(dir / (frame["file_path"].get<std::string>() + ".png"), ImageRange::Unit, &bits);
    EXPECT_EQ(bits, 8);
    view.depth = read_image(dir / frame["depth_file_path"].get<std::string>(), ImageRange::Raw, &bits);
    EXPECT_EQ(bits, 16);
    for (float& d : view.depth.pixels) d *= static_cast<float>(transforms["depth_unit_scale_factor"].get<double>());
    view.instance = read_image(dir / frame["instance_path"].get<std::string>(), ImageRange::Raw);
    view.semantic = read_image(dir / frame["semantic_path"].get<std::string>(), ImageRange::Raw);
    views.push_back(std::move(view));
  }
  return views;
}

Eigen::Vector3d unproject(const Camera& camera, int x, int y, double depth) {
  const Ray ray = camera.pixel_to_ray(x + 0.5, y + 0.5);
  return ray.origin + ray.direction * (depth / ray.direction.dot(camera.forward()));
}

// A 64x64, 6-view scene shared by the read-only tests below (generated once).
class SynthDataset : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    s_dir = new test::TempDir();
    s_summary = new SynthSummary(write_synth_scene(config_of(64, 6, 3), s_dir->path()));
  }
  static void TearDownTestSuite() {
    delete s_summary;
    delete s_dir;
  }
  static const fs::path& dir() { return s_dir->path(); }
  static test::TempDir* s_dir;
  static SynthSummary* s_summary;
};
test::TempDir* SynthDataset::s_dir = nullptr;
SynthSummary* SynthDataset::s_summary = nullptr;

TEST_F(SynthDataset, WritesTheNerfSyntheticLayoutWithExtras) {
  EXPECT_EQ(s_summary->n_train, 6);
  EXPECT_EQ(s_summary->n_test, 4);
  EXPECT_EQ(s_summary->n_objects, 5);
  EXPECT_EQ(s_summary->object_names.size(), 5u);
  for (const char* split : {"train", "test"}) {
    SCOPED_TRACE(split);
    const json t = read_json(dir() / (std::string("transforms_") + split + ".json"));
    const double fov = 40.0 * 3.14159265358979323846 / 180.0;
    EXPECT_NEAR(t["camera_angle_x"].get<double>(), fov, 1e-12);
    EXPECT_NEAR(t["fl_x"].get<double>(), 32.0 / std::tan(fov / 2), 1e-9);
    EXPECT_EQ(t["fl_y"], t["fl_x"]);
    EXPECT_EQ(t["cx"].get<double>(), 32.0);
    EXPECT_EQ(t["cy"].get<double>(), 32.0);
    EXPECT_EQ(t["w"].get<int>(), 64);
    EXPECT_EQ(t["h"].get<int>(), 64);
    EXPECT_EQ(t["depth_unit_scale_factor"].get<double>(), 0.001);
    const size_t n = std::string(split) == "train" ? 6 : 4;
    ASSERT_EQ(t["frames"].size(), n);
    for (size_t i = 0; i < n; ++i) {
      const json& f = t["frames"][i];
      // Test images are numbered after the 6 training images, so stems are unique across splits.
      const size_t index = std::string(split) == "train" ? i : 6 + i;
      const std::string stem = std::string("./") + split + "/r_" + std::to_string(index);
      EXPECT_EQ(f["file_path"], stem);
      EXPECT_EQ(f["depth_file_path"], stem + "_depth.png");
      EXPECT_EQ(f["instance_path"], stem + "_instance.png");
      EXPECT_EQ(f["semantic_path"], stem + "_semantic.png");
      EXPECT_EQ(f["transform_matrix"].size(), 4u);
      EXPECT_EQ(f["transform_matrix"][3], json({0.0, 0.0, 0.0, 1.0}));
      for (const char* suffix : {".png", "_depth.png", "_instance.png", "_semantic.png"})
        EXPECT_TRUE(fs::is_regular_file(dir() / (stem + suffix))) << stem << suffix;
    }
  }
  const json labels = read_json(dir() / "labels.json");
  ASSERT_EQ(labels["classes"].size(), 10u);
  EXPECT_EQ(labels["classes"][0], json({{"id", 0}, {"name", "void"}}));
  EXPECT_EQ(labels["classes"][1], json({{"id", 1}, {"name", "ground"}}));
  ASSERT_EQ(labels["instances"].size(), 6u);
  EXPECT_EQ(labels["instances"][0]["name"], "ground");
  for (size_t k = 0; k < 6; ++k) {
    const json& inst = labels["instances"][k];
    EXPECT_EQ(inst["id"].get<int>(), static_cast<int>(k) + 1);
    // The class name agrees with the class list.
    EXPECT_EQ(labels["classes"][inst["class_id"].get<size_t>()]["name"], inst["class"]);
    for (int c = 0; c < 3; ++c) EXPECT_LE(inst["bbox_min"][c].get<double>(), inst["bbox_max"][c].get<double>());
  }
  const json scene = read_json(dir() / "scene.json");
  EXPECT_EQ(scene["config"]["seed"].get<int>(), 3);
  EXPECT_EQ(scene["objects"].size(), 6u);
}

TEST_F(SynthDataset, KeepsTheUnitBoxWithoutAWarning) {
  // Generated content lies inside [-1.5,1.5]^3 (0.99 normalised): its depth maps must keep today's box.
  test::LogCapture log;
  const Scene scene = load_scene(dir());
  EXPECT_EQ(scene.bounds.source, BoundsSource::Depth);
  EXPECT_EQ(scene.bounds.aabb_scale, 1);
  EXPECT_LT(scene.bounds.content_extent.value_or(2), 1.0);
  EXPECT_FALSE(scene.unbounded);
  EXPECT_EQ(log.text(), "");
}

TEST(SynthWriter, TheOpenPresetsGroundBeyondTheBoxIsInferredAndWarnedAbout) {
  // The ground reaches 5 units (3.3 normalised) and the file gives no aabb_scale: the loader must find it.
  test::TempDir tmp;
  SynthConfig config = config_of(32, 6, 1);
  config.preset = "open";
  write_synth_scene(config, tmp.path());
  EXPECT_FALSE(read_json(tmp.path() / "transforms_train.json").contains("aabb_scale"));
  EXPECT_EQ(read_json(tmp.path() / "scene.json")["cameras"]["radius"].get<double>(), 6.0);
  test::LogCapture log;
  const Scene scene = load_scene(tmp.path());
  EXPECT_EQ(scene.bounds.source, BoundsSource::Depth);
  EXPECT_EQ(scene.bounds.aabb_scale, 4);
  EXPECT_GT(scene.bounds.content_extent.value_or(0), 2.5);  // measured 2.98: the views see most of the ground
  EXPECT_LE(scene.bounds.content_extent.value_or(9), 3.4);
  EXPECT_EQ(scene.aabb.max(), Eigen::Vector3d::Constant(4));
  EXPECT_THAT(log.text(), HasSubstr("using aabb_scale 4"));
}

TEST_F(SynthDataset, MapsAndLabelsAreConsistent) {
  const json labels = read_json(dir() / "labels.json");
  std::map<int, int> class_of;
  for (const auto& inst : labels["instances"]) class_of[inst["id"].get<int>()] = inst["class_id"].get<int>();
  std::set<int> seen;
  for (const char* split : {"train", "test"}) {
    for (const auto& view : read_split(dir(), split)) {
      for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) {
          const int id = static_cast<int>(view.instance.at(x, y));
          ASSERT_TRUE(id == 0 || class_of.count(id)) << "instance id " << id << " is not in labels.json";
          seen.insert(id);
          EXPECT_EQ(view.rgba.at(x, y, 3) == 0.0f, id == 0);
          EXPECT_EQ(view.depth.at(x, y) > 0.0f, id != 0);
          EXPECT_EQ(static_cast<int>(view.semantic.at(x, y)), id == 0 ? 0 : class_of[id]);
        }
    }
  }
  // Background, ground and every object show up somewhere.
  EXPECT_EQ(seen.size(), class_of.size() + 1);
}

TEST_F(SynthDataset, BoundingBoxesContainTheUnprojectedPixels) {
  const json labels = read_json(dir() / "labels.json");
  std::map<int, Eigen::AlignedBox3d> boxes;
  for (const auto& inst : labels["instances"]) {
    Eigen::Vector3d lo, hi;
    for (int c = 0; c < 3; ++c) {
      lo[c] = inst["bbox_min"][c];
      hi[c] = inst["bbox_max"][c];
    }
    // Depth is quantised to 1 mm: a point may sit 0.5 mm (over cos of the ray angle) off the surface.
    boxes[inst["id"].get<int>()] = Eigen::AlignedBox3d(lo.array() - 2e-3, hi.array() + 2e-3);
  }
  int checked = 0;
  for (const auto& view : read_split(dir(), "train"))
    for (int y = 0; y < 64; ++y)
      for (int x = 0; x < 64; ++x) {
        const int id = static_cast<int>(view.instance.at(x, y));
        if (id == 0) continue;
        const Eigen::Vector3d p = unproject(view.camera, x, y, view.depth.at(x, y));
        EXPECT_TRUE(boxes.at(id).contains(p)) << "instance " << id << " point " << p.transpose();
        ++checked;
      }
  EXPECT_GT(checked, 6 * 64 * 64 / 4);
}

TEST_F(SynthDataset, GroundTruthAgreesAcrossViews) {
  // Unproject each pixel of view A with its depth, project into view B; where B sees that point (its own
  // depth agrees), B's instance id must be A's. Pixel discretisation and silhouettes allow a few misses.
  const auto views = read_split(dir(), "train");
  int compared = 0, agreed = 0;
  for (size_t a = 0; a < views.size(); ++a)
    for (size_t b = 0; b < views.size(); ++b) {
      if (a == b) continue;
      const WrittenView& A = views[a];
      const WrittenView& B = views[b];
      for (int y = 0; y < 64; ++y)
        for (int x = 0; x < 64; ++x) {
          const float depth = A.depth.at(x, y);
          if (depth <= 0) continue;
          Eigen::Vector2d uv;
          double z = 0;
          if (!B.camera.world_to_pixel(unproject(A.camera, x, y, depth), &uv, &z)) continue;
          const int u = static_cast<int>(std::floor(uv.x())), v = static_cast<int>(std::floor(uv.y()));
          if (u < 0 || v < 0 || u >= 64 || v >= 64) continue;
          if (std::abs(B.depth.at(u, v) - z) > 0.03) continue;  // occluded in B (or off a silhouette)
          ++compared;
          agreed += B.instance.at(u, v) == A.instance.at(x, y);
        }
    }
  ASSERT_GT(compared, 20000);
  EXPECT_GE(static_cast<double>(agreed) / compared, 0.98) << agreed << " of " << compared;
}

TEST(SynthWriter, SameSeedGivesIdenticalFilesDifferentSeedDifferentScene) {
  test::TempDir tmp;
  write_synth_scene(config_of(32, 6, 5), tmp / "a");
  write_synth_scene(config_of(32, 6, 5), tmp / "b");
  write_synth_scene(config_of(32, 6, 6), tmp / "c");
  const auto a = read_tree(tmp / "a"), b = read_tree(tmp / "b"), c = read_tree(tmp / "c");
  ASSERT_EQ(a.size(), 4 + (6 + 4) * 4u);  // transforms x2, labels, scene; 4 maps per view
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, bytes] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    EXPECT_TRUE(bytes == b.at(name)) << name << " differs between two runs with the same seed";
  }
  EXPECT_NE(a.at("scene.json"), c.at("scene.json"));
  EXPECT_NE(a.at("train/r_0.png"), c.at("train/r_0.png"));
  EXPECT_NE(a.at("labels.json"), c.at("labels.json"));
}

TEST(SynthWriter, SeveralScenesGoIntoNumberedFoldersWithConsecutiveSeeds) {
  test::TempDir tmp;
  SynthConfig config = config_of(16, 2, 9);
  config.n_objects = 2;
  config.n_scenes = 2;
  std::vector<std::string> reported;
  const auto summaries =
      write_synth_dataset(config, tmp.path(), [&](const SynthSummary& s) { reported.push_back(s.dir.string()); });
  ASSERT_EQ(summaries.size(), 2u);
  EXPECT_EQ(reported, (std::vector<std::string>{(tmp / "scene_000").string(), (tmp / "scene_001").string()}));
  EXPECT_EQ(summaries[1].seed, 10u);
  EXPECT_FALSE(fs::exists(tmp / "transforms_train.json"));

  // scene_001 is exactly the single scene of seed 10.
  SynthConfig single = config_of(16, 2, 10);
  single.n_objects = 2;
  write_synth_dataset(single, tmp / "single");
  EXPECT_EQ(read_tree(tmp / "scene_001"), read_tree(tmp / "single"));
}

TEST(SynthWriter, BadConfigAndUnwritableFolderAreReported) {
  test::TempDir tmp;
  SynthConfig bad = config_of(16, 2, 0);
  bad.resolution = 4;
  EXPECT_THROW(write_synth_dataset(bad, tmp / "x"), UsageError);
  EXPECT_FALSE(fs::exists(tmp / "x"));
  test::write_text(tmp / "file", "not a folder");
  try {
    write_synth_scene(config_of(16, 2, 0), tmp / "file");
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr((tmp / "file").string()));
  }
}

}  // namespace
