// CLIP port vs. the golden vectors of openai/CLIP (reduced ViT-B/16-style model, random weights): text and
// image towers, intermediates, logits, the MaskCLIP dense features and the full image transform.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "golden_util.h"
#include "semfield/foundation/clip_model.h"
#include <map>

#include "semfield/foundation/pil_resize.h"
#include "semfield/io/image.h"

using namespace semfield;
using namespace semfield::foundation;
using semfield::test::expect_golden;
using semfield::test::golden_image_uint8;
using semfield::test::golden_path;
using semfield::test::golden_tensor;

namespace {

// Tolerance (all tensors): max|got - ref| <= max(2e-5 * max|ref|, 3 x the fp32-vs-fp64 diff of
// numerics_fp64.json), the golden README's rule. The CLIP mutation table puts a wrong GELU at 1.5e-2 and a
// wrong LayerNorm eps at 6.4e-3 of the range, far outside it.

const ClipModel& golden_clip() {
  static const ClipModel model = ClipModel::load(*golden_path("clip", "clip_weights.safetensors"));
  return model;
}

#define REQUIRE_CLIP_WEIGHTS() SEMFIELD_REQUIRE_GOLDEN("clip", "clip_weights.safetensors")

TEST(ClipModel, ConfigAndTokenizerFromGoldenFolder) {
  REQUIRE_CLIP_WEIGHTS();
  const ClipConfig& c = golden_clip().config();
  EXPECT_EQ(c.embed_dim, 64);
  EXPECT_EQ(c.vision_width, 128);
  EXPECT_EQ(c.vision_heads, 2);
  EXPECT_EQ(c.transformer_width, 32);
  EXPECT_EQ(c.transformer_heads, 2);
  EXPECT_EQ(golden_clip().weights().numel(), 2139937);
  EXPECT_TRUE(golden_clip().has_tokenizer());
}

TEST(ClipModel, GoldenText) {
  REQUIRE_CLIP_WEIGHTS();
  at::InferenceMode guard;
  const at::Tensor tokens = golden_tensor("clip", "text_tokens.npy").to(at::kLong);
  const ClipTextOutput out = golden_clip().encode_text(tokens, true);
  if (golden_path("clip", "text_embed_plus_pos.npy")) expect_golden("clip", "text_embed_plus_pos", out.blocks[0]);
  if (golden_path("clip", "text_block0_out.npy")) expect_golden("clip", "text_block0_out", out.blocks[1]);
  expect_golden("clip", "text_block1_out", out.blocks[2]);
  expect_golden("clip", "text_embeddings", out.embedding, "text_embeddings");
}

TEST(ClipModel, GoldenImageDenseAndLogits) {
  REQUIRE_CLIP_WEIGHTS();
  at::InferenceMode guard;
  const ClipModel& model = golden_clip();
  const at::Tensor input = model.preprocess(golden_image_uint8("clip", "image_224.png"));
  if (const at::Tensor stored = golden_tensor("clip", "image_input.npy"); stored.defined()) {
    EXPECT_TRUE(at::equal(input, stored)) << "image transform differs from image_input.npy";
  }
  const ClipImageOutput out = model.encode_image(input, true, true);
  if (golden_path("clip", "visual_conv1_out.npy")) expect_golden("clip", "visual_conv1_out", out.conv1);
  if (golden_path("clip", "visual_ln_pre_out.npy")) expect_golden("clip", "visual_ln_pre_out", out.blocks[0]);
  if (golden_path("clip", "visual_block0_out.npy"))
    expect_golden("clip", "visual_block0_out", out.blocks[1], "visual_block0_out");
  expect_golden("clip", "visual_block1_out", out.blocks[2], "visual_block1_out");
  expect_golden("clip", "image_embedding", out.embedding, "image_embedding");
  expect_golden("clip", "dense_patch_embeddings", out.dense, "dense_patch_embeddings");
  if (golden_path("clip", "dense_patch_embeddings_grid.npy"))
    expect_golden("clip", "dense_patch_embeddings_grid", out.dense.reshape({1, 14, 14, 64}), "dense_patch_embeddings");
  const at::Tensor text = model.encode_text(golden_tensor("clip", "text_tokens.npy").to(at::kLong)).embedding;
  expect_golden("clip", "logits_per_image", model.logits_per_image(out.embedding, text), "logits_per_image");
}

TEST(ClipModel, GoldenNonSquareImageThroughTheFullTransform) {
  REQUIRE_CLIP_WEIGHTS();
  at::InferenceMode guard;
  const ClipModel& model = golden_clip();
  const at::Tensor input = model.preprocess(golden_image_uint8("clip", "image_300x480.png"));
  ASSERT_EQ(input.sizes().vec(), (std::vector<int64_t>{1, 3, 224, 224}));
  if (const at::Tensor stored = golden_tensor("clip", "image_300x480_input.npy"); stored.defined()) {
    // Pillow's bicubic resampling is reproduced exactly, so the transform matches bit for bit.
    EXPECT_TRUE(at::equal(input, stored)) << "max diff " << (input - stored).abs().max().item<double>();
  }
  expect_golden("clip", "image_300x480_embedding", model.encode_image(input).embedding, "image_300x480_embedding");
}

TEST(ClipModel, PthAndSafetensorsAgree) {
  SEMFIELD_REQUIRE_GOLDEN("clip", "clip_weights.pth");
  REQUIRE_CLIP_WEIGHTS();
  const ClipModel pth = ClipModel::load(*golden_path("clip", "clip_weights.pth"));
  const auto& a = pth.weights().entries();
  const auto& b = golden_clip().weights().entries();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
}

TEST(ClipModel, DenseFeaturesAtAnotherGrid) {
  REQUIRE_CLIP_WEIGHTS();
  at::InferenceMode guard;
  const at::Tensor images = at::randn({1, 3, 160, 256});
  const ClipImageOutput out = golden_clip().encode_image(images, true);
  EXPECT_EQ(out.grid_height, 10);
  EXPECT_EQ(out.grid_width, 16);
  EXPECT_EQ(out.dense.sizes().vec(), (std::vector<int64_t>{1, 160, 64}));
  EXPECT_TRUE(at::isfinite(out.dense).all().item<bool>());
}

}  // namespace

namespace semfield::foundation {
namespace {

// SCLIP's dense tokens (Laser's variant) against a plain per-head reference written from the formula with the
// checkpoint's named tensors: last block = x + out_proj(sum over heads of [softmax(s q q^T) + softmax(s k k^T)] v),
// then + MLP(ln_2(.)), ln_post and the projection on the patch tokens.
TEST(ClipModel, SclipDenseTokensMatchAPlainReference) {
  REQUIRE_CLIP_WEIGHTS();
  at::InferenceMode guard;
  const ClipModel& model = golden_clip();
  const ClipConfig& c = model.config();
  const at::Tensor input = model.preprocess(golden_image_uint8("clip", "image_224.png"));
  const ClipImageOutput sclip = model.encode_image(input, true, true, ClipDense::Sclip);
  const ClipImageOutput mask = model.encode_image(input, true, false, ClipDense::MaskClip);
  std::map<std::string, at::Tensor> w;
  for (const auto& [name, tensor] : model.weights().entries()) w[name] = tensor;
  const std::string b = "visual.transformer.resblocks." + std::to_string(c.vision_layers - 1) + ".";
  const int64_t width = c.vision_width, heads = c.vision_heads, dh = width / heads;
  const at::Tensor x = sclip.blocks[sclip.blocks.size() - 2][0];  // the last block's input [N, width]
  const at::Tensor y = at::layer_norm(x, {width}, w[b + "ln_1.weight"], w[b + "ln_1.bias"], c.layer_norm_eps);
  const at::Tensor qkv = at::linear(y, w[b + "attn.in_proj_weight"], w[b + "attn.in_proj_bias"]);
  std::vector<at::Tensor> per_head;
  for (int64_t h = 0; h < heads; ++h) {
    const at::Tensor q = qkv.narrow(1, h * dh, dh), k = qkv.narrow(1, width + h * dh, dh),
                     v = qkv.narrow(1, 2 * width + h * dh, dh);
    const double s = 1.0 / std::sqrt(static_cast<double>(dh));
    per_head.push_back(at::matmul(at::softmax(at::matmul(q, q.t()) * s, 1) + at::softmax(at::matmul(k, k.t()) * s, 1), v));
  }
  at::Tensor z = x + at::linear(at::cat(per_head, 1), w[b + "attn.out_proj.weight"], w[b + "attn.out_proj.bias"]);
  at::Tensor hidden = at::linear(at::layer_norm(z, {width}, w[b + "ln_2.weight"], w[b + "ln_2.bias"], c.layer_norm_eps),
                                 w[b + "mlp.c_fc.weight"], w[b + "mlp.c_fc.bias"]);
  hidden = c.quick_gelu ? hidden * at::sigmoid(1.702 * hidden) : at::gelu(hidden);
  z = z + at::linear(hidden, w[b + "mlp.c_proj.weight"], w[b + "mlp.c_proj.bias"]);
  const at::Tensor patches = z.narrow(0, 1, z.size(0) - 1);
  const at::Tensor reference =
      at::matmul(at::layer_norm(patches, {width}, w["visual.ln_post.weight"], w["visual.ln_post.bias"], c.layer_norm_eps),
                 w["visual.proj"]);
  ASSERT_EQ(sclip.dense.sizes(), mask.dense.sizes());
  EXPECT_LT((sclip.dense[0] - reference).abs().max().item<double>(), 2e-5 * reference.abs().max().item<double>() + 1e-6);
  // It is not MaskCLIP's value path.
  EXPECT_GT((sclip.dense - mask.dense).abs().max().item<double>(), 1e-2 * mask.dense.abs().max().item<double>());
}

}  // namespace
}  // namespace semfield::foundation
