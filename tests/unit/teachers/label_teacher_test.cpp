// The labels teacher: class counts, one-hot maps, degradations on training views only, folders of maps.
#include "semfield/teachers/label_teacher.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/image.h"
#include "semfield/io/npy.h"
#include "teacher_test_util.h"

namespace semfield {
namespace {

using ::testing::HasSubstr;
using test::error_of;

TEST(LabelTeacher, SemanticMapsBecomeOneHotOverAllClasses) {
  test::TempDir dir;
  const Scene scene = test::tiny_synth_scene(dir);
  const auto teacher = make_label_teacher("labels:semantic", scene);
  EXPECT_EQ(teacher->spec(), "labels:semantic");
  EXPECT_EQ(teacher->output_kind(), TeacherOutputKind::Labels);
  // labels.json lists the synth classes 0..9 (void, ground, 8 shapes).
  EXPECT_EQ(teacher->num_classes(), 10);
  const View& view = scene.views.front();
  const auto maps = teacher->compute({at::Tensor(), &view});
  ASSERT_EQ(maps.size(), 1u);
  ASSERT_EQ(maps[0].sizes(), (at::IntArrayRef{10, 32, 32}));
  // Exactly one class per pixel, and it is the map's id.
  EXPECT_TRUE(maps[0].sum(0).eq(1).all().item<bool>());
  const at::Tensor ids = maps[0].argmax(0);
  for (int y = 0; y < 32; y += 7)
    for (int x = 0; x < 32; x += 5) EXPECT_EQ(ids[y][x].item<int64_t>(), static_cast<int64_t>(view.semantic->at(x, y)));
  EXPECT_TRUE(teacher->label_ids(view).equal(ids));
}

TEST(LabelTeacher, NoiseAndSparsityOnlyTouchTrainingViews) {
  test::TempDir dir;
  const Scene scene = test::tiny_synth_scene(dir);
  LabelDegradation degradation;
  degradation.noise_fraction = 0.3;
  degradation.keep_fraction = 0.5;
  degradation.seed = 1;
  const auto clean = make_label_teacher("labels:instance", scene);
  const auto noisy = make_label_teacher("labels:instance", scene, degradation);
  int64_t labelled = 0, changed = 0, total = 0;
  for (const View& view : scene.views) {
    const at::Tensor a = clean->compute({at::Tensor(), &view})[0];
    const at::Tensor b = noisy->compute({at::Tensor(), &view})[0];
    if (view.split != Split::Train) {
      EXPECT_TRUE(a.equal(b)) << view.name;  // held-out views stay clean for evaluation
      continue;
    }
    const at::Tensor has = b.sum(0).gt(0);
    labelled += has.sum().item<int64_t>();
    total += has.numel();
    changed += (a.argmax(0).ne(b.argmax(0)).logical_and(has)).sum().item<int64_t>();
  }
  // Kept ~50 %, and ~30 % of the kept pixels moved to a different class.
  EXPECT_NEAR(static_cast<double>(labelled) / total, 0.5, 0.03);
  EXPECT_NEAR(static_cast<double>(changed) / labelled, 0.3, 0.03);
}

TEST(LabelTeacher, NoiseDrawsOnlyClassesTheTrainingMapsContain) {
  test::TempDir dir;
  const Scene scene = test::tiny_synth_scene(dir);
  LabelDegradation degradation;
  degradation.noise_fraction = 0.5;
  const auto clean = make_label_teacher("labels:semantic", scene);
  const auto noisy = make_label_teacher("labels:semantic", scene, degradation);
  at::Tensor present = at::zeros({clean->num_classes()}, at::kBool);
  at::Tensor drawn = at::zeros({clean->num_classes()}, at::kBool);
  for (const View* view : scene.split(Split::Train)) {
    present.index_put_({clean->compute({at::Tensor(), view})[0].argmax(0).reshape(-1)}, true);
    drawn.index_put_({noisy->compute({at::Tensor(), view})[0].argmax(0).reshape(-1)}, true);
  }
  // The table lists 10 classes; the scene shows fewer, and the noise never invents the others.
  ASSERT_LT(present.sum().item<int64_t>(), 10);
  EXPECT_TRUE(drawn.equal(present));
}

TEST(LabelTeacher, ReadsFoldersOfPngAndNpyMaps) {
  test::TempDir dir;
  const Scene scene = test::tiny_synth_scene(dir);
  const auto train = scene.split(Split::Train);
  // PNG ids at half resolution for every training view, except one given as probabilities.
  for (size_t i = 0; i < train.size(); ++i) {
    Image ids(16, 16, 1);
    for (int y = 0; y < 16; ++y)
      for (int x = 0; x < 16; ++x) ids.at(x, y) = static_cast<float>((x / 8) + 2 * (y / 8));
    if (i == 0) {
      at::Tensor probs = at::zeros({4, 16, 16});
      probs[3].fill_(1.0f);
      write_npy(dir / "labels" / (train[i]->name + ".npy"), tensor_to_array(probs));
    } else {
      write_png(dir / "labels" / (train[i]->name + ".png"), ids, 8, ImageRange::Raw);
    }
  }
  const auto teacher = make_label_teacher("labels:" + (dir / "labels").string(), scene);
  EXPECT_EQ(teacher->num_classes(), 4);
  const auto maps = teacher->compute({at::Tensor(), train[1]});
  ASSERT_EQ(maps[0].sizes(), (at::IntArrayRef{4, 16, 16}));
  EXPECT_EQ(maps[0].argmax(0)[15][15].item<int64_t>(), 3);
  EXPECT_EQ(maps[0].argmax(0)[0][15].item<int64_t>(), 1);
  EXPECT_EQ(teacher->compute({at::Tensor(), train[0]})[0].argmax(0)[0][0].item<int64_t>(), 3);
  // Held-out views have no maps: not covered, so evaluation skips them.
  EXPECT_FALSE(teacher->covers(*scene.split(Split::Test).front()));
}

TEST(LabelTeacher, ClearErrorsForMissingOrMisShapedMaps) {
  test::TempDir dir;
  const Scene scene = test::tiny_synth_scene(dir);
  const auto train = scene.split(Split::Train);
  std::filesystem::create_directories(dir / "labels");
  EXPECT_THAT(error_of([&] { make_label_teacher("labels:" + (dir / "labels").string(), scene)->compute({at::Tensor(), train[0]}); }),
              HasSubstr("no label map"));
  for (const View* v : train) write_png(dir / "labels" / (v->name + ".png"), Image(20, 10, 1), 8, ImageRange::Raw);
  EXPECT_THAT(error_of([&] { make_label_teacher("labels:" + (dir / "labels").string(), scene); }),
              HasSubstr("aspect ratio"));
  for (const View* v : train) write_png(dir / "labels" / (v->name + ".png"), Image(32, 32, 3), 8, ImageRange::Raw);
  EXPECT_THAT(error_of([&] { make_label_teacher("labels:" + (dir / "labels").string(), scene); }),
              HasSubstr("one channel"));
  EXPECT_THAT(error_of([&] { make_label_teacher("labels:" + (dir / "nowhere").string(), scene); }),
              HasSubstr("label folder not found"));
  EXPECT_THAT(error_of([&] { make_label_teacher("labels:", scene); }), HasSubstr("expected labels:semantic"));
  EXPECT_THAT(error_of([&] { make_label_teacher("labels:semantic", scene)->compute({at::Tensor(), nullptr}); }),
              HasSubstr("cannot label rendered novel views"));
}

TEST(LabelTeacher, ALabelsJsonTheLoaderIgnoredStopsTheLabelTeachersWithItsError) {
  test::TempDir dir;
  test::tiny_synth_scene(dir);
  // Another tool's schema: load_scene ignores it (with a warning), the label teachers cannot.
  test::write_text(dir / "scene" / "labels.json", R"({"instances": {"1": "car"}})");
  const Scene scene = load_scene(dir / "scene");
  const std::string expected = (dir / "scene" / "labels.json").string() +
                               ": instances: expected an array, got object (labels:instance needs the scene's "
                               "labels.json)";
  EXPECT_EQ(error_of([&] { make_label_teacher("labels:instance", scene); }), expected);
  EXPECT_THAT(error_of([&] { make_label_teacher("labels:semantic", scene); }),
              HasSubstr("(labels:semantic needs the scene's labels.json)"));
}

}  // namespace
}  // namespace semfield
