// SAM's decoder on rendered embeddings: the embedding camera's geometry, and the decoding path with the reduced
// random-weight SAM of the golden tests on an untrained field (shapes and choice by IoU, not quality).
#include "semfield/models/feature_model.h"
#include "semfield/models/radiance_model.h"
#include "semfield/segment/sam_segmenter.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "support/test_support.h"
#include "support/small_models.h"

namespace semfield {
namespace {

TEST(SamSegmenter, EmbeddingCameraCoversThePaddedSquare) {
  Camera camera;
  camera.intrinsics.width = 40;
  camera.intrinsics.height = 20;
  camera.intrinsics.fx = camera.intrinsics.fy = 30;
  camera.intrinsics.cx = 21;
  camera.intrinsics.cy = 9;
  camera.c2w(0, 3) = 0.5;
  const Camera grid = sam_embedding_camera(camera, 4);
  EXPECT_EQ(grid.intrinsics.width, 4);
  EXPECT_EQ(grid.intrinsics.height, 4);
  // Cell (i, j) of SAM's 4 x 4 grid is centred on original pixel ((j + 0.5) * 40 / 4, (i + 0.5) * 40 / 4): rows 2
  // and 3 lie below the 20-pixel image, in the padding.
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const Ray a = grid.pixel_to_ray(j + 0.5, i + 0.5), b = camera.pixel_to_ray((j + 0.5) * 10, (i + 0.5) * 10);
      EXPECT_NEAR((a.direction - b.direction).norm(), 0, 1e-9) << i << "," << j;
      EXPECT_NEAR((a.origin - b.origin).norm(), 0, 1e-12);
    }
}

TEST(SamSegmenter, DecodesRenderedEmbeddings) {
  const std::filesystem::path weights = test::shared_dir() / "golden" / "sam" / "sam_weights.safetensors";
  SEMFIELD_REQUIRE_SHARED_FILE(weights);
  auto sam = std::make_shared<const foundation::SamModel>(foundation::SamModel::load(weights));
  const RadianceModel radiance(test::small_radiance_config(), SceneFrame{});
  FeatureFieldConfig fc = test::small_feature_config({sam->config().out_chans});
  fc.head_hidden = 16;
  const FeatureModel model(fc, TeacherOutputKind::Features, false, radiance, 1);
  SamSegmenter segmenter(model, sam);
  EXPECT_EQ(segmenter.method(), "sam-decoder");

  Camera camera;
  camera.intrinsics.width = 24;
  camera.intrinsics.height = 16;
  camera.intrinsics.fx = camera.intrinsics.fy = 20;
  camera.intrinsics.cx = 12;
  camera.intrinsics.cy = 8;
  camera.c2w(2, 3) = 3;
  const SegmentView view = segmenter.prepare(camera, "v");
  const int64_t g = sam->config().grid();
  EXPECT_EQ(view.maps.sizes(), (at::IntArrayRef{sam->config().out_chans, g, g}));
  EXPECT_EQ(view.depth.sizes(), (at::IntArrayRef{16, 24}));
  EXPECT_EQ(view.opacity.sizes(), (at::IntArrayRef{16, 24}));

  Prompts prompts;
  prompts.positive = {{10, 7}};
  prompts.negative = {{2, 2}};
  const foundation::SamPrediction prediction = segmenter.predict(view, prompts);
  ASSERT_EQ(prediction.masks.size(0), 3);  // multimask output
  EXPECT_EQ(prediction.masks.sizes().slice(1), (at::IntArrayRef{16, 24}));
  const int64_t best = SamSegmenter::best_mask(prediction);
  EXPECT_EQ(prediction.iou[best].item<float>(), prediction.iou.max().item<float>());
  const at::Tensor mask = segmenter.segment(view, prompts);
  EXPECT_EQ(mask.scalar_type(), at::kBool);
  EXPECT_TRUE(mask.equal(prediction.masks[best] > 0));
  // Following without a visible click or a seed finds nothing; a seed becomes a box prompt.
  EXPECT_FALSE(segmenter.follow(view, {}, {}).any().item<bool>());
  at::Tensor seed = at::zeros({16, 24}, at::kBool);
  seed.slice(0, 4, 9).slice(1, 6, 12).fill_(true);
  EXPECT_EQ(segmenter.follow(view, {}, seed).sizes(), (at::IntArrayRef{16, 24}));
  // A field with another channel count cannot feed SAM.
  FeatureFieldConfig other = fc;
  other.channels = {7};
  const FeatureModel wrong(other, TeacherOutputKind::Features, false, radiance, 1);
  EXPECT_THROW(SamSegmenter(wrong, sam), UsageError);
}

}  // namespace
}  // namespace semfield
