// The files teacher: precomputed maps matched by image stem, with errors naming the file and the problem.
#include "semfield/teachers/file_teacher.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/npy.h"
#include "semfield/io/safetensors.h"
#include "teacher_test_util.h"

namespace semfield {
namespace {

using ::testing::HasSubstr;
using test::error_of;

void write_maps(const std::filesystem::path& dir, const Scene& scene, int64_t channels, int64_t h, int64_t w) {
  for (const View& v : scene.views)
    write_npy(dir / (v.name + ".npy"), tensor_to_array(at::full({channels, h, w}, static_cast<float>(v.name.size()))));
}

TEST(FileTeacher, ReadsNpyMapsAndScalesSizes) {
  test::TempDir dir;
  const Scene scene = test::tiny_synth_scene(dir);
  write_maps(dir / "maps", scene, 7, 8, 8);
  const auto teacher = make_teacher("files:" + (dir / "maps").string(), scene);
  EXPECT_EQ(teacher->channels(), std::vector<int64_t>{7});
  EXPECT_EQ(teacher->map_sizes(32, 32).front(), (std::pair<int64_t, int64_t>{8, 8}));
  EXPECT_EQ(teacher->map_sizes(64, 32).front(), (std::pair<int64_t, int64_t>{16, 8}));
  const View& v = scene.views.front();
  const auto maps = teacher->compute({at::Tensor(), &v});
  ASSERT_EQ(maps.size(), 1u);
  EXPECT_EQ(maps[0].sizes(), (at::IntArrayRef{7, 8, 8}));
  EXPECT_FLOAT_EQ(maps[0][0][0][0].item<float>(), static_cast<float>(v.name.size()));
  EXPECT_FALSE(teacher->runs_on_images());
}

TEST(FileTeacher, SafetensorsHoldOneTensorPerScale) {
  test::TempDir dir;
  const Scene scene = test::tiny_synth_scene(dir);
  for (const View& v : scene.views) {
    SafetensorsFile file;
    file.tensors["scale0"] = tensor_to_array(at::ones({4, 16, 16}));
    file.tensors["scale1"] = tensor_to_array(at::ones({2, 4, 4}).to(at::kHalf));
    write_safetensors(dir / "maps" / (v.name + ".safetensors"), file);
  }
  const auto teacher = make_teacher("files:" + (dir / "maps").string(), scene);
  EXPECT_EQ(teacher->channels(), (std::vector<int64_t>{4, 2}));
  const auto maps = teacher->compute({at::Tensor(), &scene.views.back()});
  ASSERT_EQ(maps.size(), 2u);
  EXPECT_EQ(maps[1].scalar_type(), at::kFloat);
  EXPECT_EQ(maps[1].sizes(), (at::IntArrayRef{2, 4, 4}));
}

TEST(FileTeacher, MismatchedMissingAndBadMapsNameTheFile) {
  test::TempDir dir;
  const Scene scene = test::tiny_synth_scene(dir);
  write_maps(dir / "maps", scene, 7, 8, 8);
  const View& other = scene.views[2];
  write_npy(dir / "maps" / (other.name + ".npy"), tensor_to_array(at::zeros({5, 8, 8})));
  const auto teacher = make_teacher("files:" + (dir / "maps").string(), scene);
  const std::string shape_error = error_of([&] { teacher->compute({at::Tensor(), &other}); });
  EXPECT_THAT(shape_error, HasSubstr(other.name + ".npy"));
  EXPECT_THAT(shape_error, HasSubstr("expected [7, 8, 8]"));

  std::filesystem::remove(dir / "maps" / (other.name + ".npy"));
  EXPECT_FALSE(teacher->covers(other));
  EXPECT_THAT(error_of([&] { teacher->compute({at::Tensor(), &other}); }), HasSubstr("no feature map"));

  write_npy(dir / "maps" / (other.name + ".npy"), tensor_to_array(at::zeros({7, 8}, at::kFloat)));
  EXPECT_THAT(error_of([&] { teacher->compute({at::Tensor(), &other}); }), HasSubstr("expected a feature map [C,h,w]"));
  write_npy(dir / "maps" / (other.name + ".npy"), tensor_to_array(at::zeros({7, 8, 8}, at::kInt)));
  EXPECT_THAT(error_of([&] { teacher->compute({at::Tensor(), &other}); }), HasSubstr("floating point"));
  at::Tensor nan = at::zeros({7, 8, 8});
  nan[1][2][3] = std::nanf("");
  write_npy(dir / "maps" / (other.name + ".npy"), tensor_to_array(nan));
  EXPECT_THAT(error_of([&] { teacher->compute({at::Tensor(), &other}); }), HasSubstr("NaN"));

  EXPECT_THAT(error_of([&] { make_teacher("files:" + (dir / "missing").string(), scene); }),
              HasSubstr("feature folder not found"));
  EXPECT_THAT(error_of([&] { make_teacher("files", scene); }), HasSubstr("needs a path"));
  EXPECT_THAT(error_of([&] { make_teacher("bogus:x", scene); }), HasSubstr("unknown teacher"));
  EXPECT_THAT(error_of([&] { teacher->compute({at::Tensor(), nullptr}); }), HasSubstr("cannot run on rendered"));
}

}  // namespace
}  // namespace semfield
