// SAM port vs. the golden vectors of segment-anything (reduced ViT encoder and 64-channel decoder, random
// weights): encoder intermediates, prompt encodings, every decoder case, postprocessing, and the
// non-square SamPredictor pipeline.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "golden_util.h"
#include "semfield/core/error.h"
#include "semfield/foundation/pil_resize.h"
#include "semfield/foundation/sam_model.h"
#include "semfield/foundation/sam_transforms.h"
#include "semfield/io/image.h"

using namespace semfield;
using namespace semfield::foundation;
using semfield::test::expect_golden;
using semfield::test::golden_image_uint8;
using semfield::test::golden_path;
using semfield::test::golden_tensor;

namespace {

// Tolerance (all tensors): max|got - ref| <= max(2e-5 * max|ref|, 3 x the fp32-vs-fp64 diff of
// numerics_fp64.json), the golden README's rule. SAM's mutation table: swapped rel-pos tables 0.37, no
// +0.5 point shift 3e-3, tanh GELU 1.9e-4, LayerNorm eps 4e-5 of the range; LayerNorm2d's eps (1e-5 of
// the range) sits below the bound, so config_test checks that constant directly.

const SamModel& golden_sam() {
  static const SamModel model = SamModel::load(*golden_path("sam", "sam_weights.safetensors"));
  return model;
}

// The primary image's embedding, computed once by the port.
const SamImage& primary_image() {
  static const SamImage image = [] {
    at::InferenceMode guard;
    return golden_sam().set_image(golden_image_uint8("sam", "image_1024.png"));
  }();
  return image;
}

#define REQUIRE_SAM_WEIGHTS() SEMFIELD_REQUIRE_GOLDEN("sam", "sam_weights.safetensors")

struct Case {
  std::string name;
  std::vector<std::array<double, 2>> points;
  std::vector<int> labels;
  std::optional<std::array<double, 4>> box;
  bool mask = false;
};

std::vector<Case> cases() {
  return {{"a_point", {{300.0, 350.0}}, {1}, std::nullopt},
          {"b_pos_neg", {{300.0, 350.0}, {700.0, 300.0}}, {1, 0}, std::nullopt},
          {"c_box", {}, {}, std::array<double, 4>{580.0, 180.0, 920.0, 470.0}},
          {"d_point_mask", {{300.0, 350.0}}, {1}, std::nullopt, true},
          {"e_box_point", {{750.0, 320.0}}, {1}, std::array<double, 4>{580.0, 180.0, 920.0, 470.0}}};
}

TEST(SamModel, ConfigFromGoldenConfigJson) {
  REQUIRE_SAM_WEIGHTS();
  const SamConfig& c = golden_sam().config();
  EXPECT_EQ(c.embed_dim, 96);
  EXPECT_EQ(c.depth, 4);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.global_attn_indexes, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(c.out_chans, 64);
  EXPECT_EQ(c.transformer_dim, 64);
  EXPECT_EQ(c.decoder_mlp_dim, 256);
  EXPECT_EQ(c.iou_head_hidden_dim, 64);
  EXPECT_DOUBLE_EQ(c.encoder_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.layer_norm_2d_eps, 1e-6);
  EXPECT_DOUBLE_EQ(c.decoder_eps, 1e-5);
  EXPECT_EQ(golden_sam().weights().numel(), 1165608);
}

TEST(SamModel, GoldenImageEncoder) {
  REQUIRE_SAM_WEIGHTS();
  at::InferenceMode guard;
  const at::Tensor image = golden_image_uint8("sam", "image_1024.png");
  const SamConfig& c = golden_sam().config();
  const at::Tensor input = sam_normalize_and_pad(sam_resize_image(image, 1024), c.pixel_mean, c.pixel_std, 1024);
  std::vector<at::Tensor> intermediates;
  const at::Tensor embedding = golden_sam().image_encoder().forward(input, &intermediates);
  expect_golden("sam", "patch_embed_out", intermediates[0], "patch_embed_out");
  expect_golden("sam", "block0_out", intermediates[1], "block0_out");
  expect_golden("sam", "block1_out", intermediates[2], "block1_out");
  expect_golden("sam", "image_embedding", embedding, "image_embedding");
  EXPECT_TRUE(at::equal(primary_image().embedding, embedding));
}

TEST(SamModel, GoldenDensePositionalEncoding) {
  REQUIRE_SAM_WEIGHTS();
  at::InferenceMode guard;
  expect_golden("sam", "dense_pe", golden_sam().prompt_encoder().dense_positional_encoding(), "dense_pe");
}

TEST(SamModel, GoldenPromptsAndDecoder) {
  REQUIRE_SAM_WEIGHTS();
  at::InferenceMode guard;
  const SamModel& model = golden_sam();
  // Decoder fed with the golden embedding (isolates the decoder) and through predict() with the port's own
  // embedding (the SamPredictor pipeline end to end).
  const SamImage reference = model.from_embedding(golden_tensor("sam", "image_embedding.npy"), 1024, 1024);
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.name);
    SamPrompt prompt;
    prompt.points = k.points;
    prompt.labels = k.labels;
    prompt.box = k.box;
    if (k.mask) prompt.mask_input = golden_tensor("sam", k.name + "_mask_input.npy").squeeze(0);
    // Sparse and dense prompt embeddings (model frame = original frame for the 1024 x 1024 image).
    at::Tensor points, labels, boxes;
    if (!k.points.empty()) {
      points = at::tensor(std::vector<float>{static_cast<float>(k.points[0][0]), static_cast<float>(k.points[0][1])});
      if (k.points.size() == 2)
        points = at::cat({points, at::tensor(std::vector<float>{static_cast<float>(k.points[1][0]),
                                                                static_cast<float>(k.points[1][1])})});
      points = points.view({1, -1, 2});
      labels = at::tensor(std::vector<float>(k.labels.begin(), k.labels.end())).view({1, -1});
    }
    if (k.box) boxes = at::tensor(std::vector<float>((*k.box).begin(), (*k.box).end())).view({1, 4});
    const SamPromptEmbeddings emb = model.prompt_encoder().forward(
        points, labels, boxes, k.mask ? prompt.mask_input.unsqueeze(0) : at::Tensor());
    expect_golden("sam", k.name + "_sparse_embeddings", emb.sparse);
    if (k.mask) expect_golden("sam", k.name + "_dense_embeddings", emb.dense);
    for (const bool multimask : {true, false}) {
      prompt.multimask = multimask;
      const std::string kind = multimask ? "_multimask" : "_singlemask";
      const SamPrediction from_reference = model.predict(reference, prompt);
      expect_golden("sam", k.name + kind + "_low_res_logits", from_reference.low_res_logits.unsqueeze(0),
                    k.name + kind + "_low_res_logits");
      expect_golden("sam", k.name + kind + "_iou", from_reference.iou.unsqueeze(0), k.name + kind + "_iou");
      const SamPrediction end_to_end = model.predict(primary_image(), prompt);
      expect_golden("sam", k.name + kind + "_low_res_logits", end_to_end.low_res_logits.unsqueeze(0),
                    k.name + kind + "_low_res_logits");
      expect_golden("sam", k.name + kind + "_iou", end_to_end.iou.unsqueeze(0), k.name + kind + "_iou");
      if (k.name == "a_point" && !multimask)
        expect_golden("sam", "a_point_singlemask_upscaled_logits", end_to_end.masks.unsqueeze(0),
                      "a_point_singlemask_upscaled_logits");
    }
  }
}

TEST(SamModel, GoldenNonSquareImage) {
  REQUIRE_SAM_WEIGHTS();
  at::InferenceMode guard;
  const SamModel& model = golden_sam();
  const at::Tensor image = golden_image_uint8("sam", "image_250x375.png");
  EXPECT_EQ(sam_resized_shape(250, 375, 1024), (std::pair<int64_t, int64_t>{683, 1024}));
  // Pillow's bilinear resampling is reproduced exactly.
  EXPECT_TRUE(at::equal(sam_resize_image(image, 1024), golden_image_uint8("sam", "image_250x375_resized.png")));
  const SamImage set = model.set_image(image);
  EXPECT_EQ(set.input, (std::pair<int64_t, int64_t>{683, 1024}));
  expect_golden("sam", "secondary_image_embedding", set.embedding, "secondary_image_embedding");
  SamPrompt prompt;
  prompt.points = {{110.0, 90.0}};
  prompt.labels = {1};
  const SamPrediction out = model.predict(set, prompt);
  expect_golden("sam", "secondary_multimask_low_res_logits", out.low_res_logits.unsqueeze(0),
                "secondary_multimask_low_res_logits");
  expect_golden("sam", "secondary_multimask_iou", out.iou.unsqueeze(0), "secondary_multimask_iou");
  expect_golden("sam", "secondary_multimask_upscaled_logits", out.masks.unsqueeze(0),
                "secondary_multimask_upscaled_logits");
}

TEST(SamModel, PthAndSafetensorsAgree) {
  SEMFIELD_REQUIRE_GOLDEN("sam", "sam_weights.pth");
  REQUIRE_SAM_WEIGHTS();
  const SamModel pth = SamModel::load(*golden_path("sam", "sam_weights.pth"));
  const auto& a = pth.weights().entries();
  const auto& b = golden_sam().weights().entries();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
}

TEST(SamModel, PromptErrors) {
  REQUIRE_SAM_WEIGHTS();
  at::InferenceMode guard;
  const SamImage image = golden_sam().from_embedding(at::zeros({1, 64, 64, 64}), 100, 200);
  EXPECT_EQ(image.input, (std::pair<int64_t, int64_t>{512, 1024}));
  SamPrompt bad_label;
  bad_label.points = {{1.0, 2.0}};
  bad_label.labels = {2};
  EXPECT_THROW(golden_sam().predict(image, bad_label), UsageError);
  SamPrompt missing_label;
  missing_label.points = {{1.0, 2.0}};
  EXPECT_THROW(golden_sam().predict(image, missing_label), UsageError);
  EXPECT_THROW(golden_sam().from_embedding(at::zeros({1, 64, 32, 32}), 100, 200), UsageError);
}

}  // namespace
