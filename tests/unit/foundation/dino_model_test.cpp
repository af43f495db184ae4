// DINO port vs. the golden vectors of facebookresearch/dino (reduced ViT, random weights): every stored
// output and the intermediate token streams, from both the .safetensors and the .pth weights.
#include <gtest/gtest.h>

#include <ATen/ATen.h>
#include <ATen/core/grad_mode.h>

#include "golden_util.h"
#include "semfield/foundation/dino_model.h"
#include "semfield/core/error.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/image.h"
#include "semfield/io/safetensors.h"

using namespace semfield;
using namespace semfield::foundation;
using semfield::test::expect_golden;
using semfield::test::golden_path;

namespace {

// Tolerance (all tensors): max|got - ref| <= max(2e-5 * max|ref|, 3 x the fp32-vs-fp64 diff of
// numerics_fp64.json), the golden README's rule; token shapes must match exactly.

at::Tensor read_rgb(const std::string& name) {
  const Image image = read_image(*golden_path("dino", name));
  return at::from_blob(const_cast<float*>(image.pixels.data()), {image.height, image.width, image.channels},
                       at::kFloat)
      .clone();
}

const DinoModel& golden_dino() {
  static const DinoModel model = DinoModel::load(*golden_path("dino", "dino_weights.safetensors"));
  return model;
}

TEST(DinoModel, ConfigFromGoldenConfigJson) {
  SEMFIELD_REQUIRE_GOLDEN("dino", "dino_weights.safetensors");
  const DinoConfig& c = golden_dino().config();
  EXPECT_EQ(c.patch_size, 8);
  EXPECT_EQ(c.embed_dim, 96);
  EXPECT_EQ(c.depth, 3);
  EXPECT_EQ(c.num_heads, 3);
  EXPECT_EQ(c.img_size, 224);
  EXPECT_EQ(golden_dino().weights().numel(), 429696);
}

TEST(DinoModel, Golden224) {
  SEMFIELD_REQUIRE_GOLDEN("dino", "dino_weights.safetensors");
  at::InferenceMode guard;
  const DinoModel& model = golden_dino();
  const at::Tensor input = model.normalize(read_rgb("image_224.png"));
  if (const at::Tensor stored = semfield::test::golden_tensor("dino", "image_input.npy"); stored.defined()) {
    EXPECT_TRUE(at::equal(input, stored)) << "ToTensor + Normalize differs from image_input.npy";
  }
  const DinoOutput out = model.forward(input, true, true);
  ASSERT_EQ(out.grid_height, 28);
  ASSERT_EQ(out.grid_width, 28);
  expect_golden("dino", "prepare_tokens_out", out.blocks[0], "prepare_tokens");
  for (int i = 0; i < 3; ++i) {
    const std::string name = "block" + std::to_string(i);
    if (golden_path("dino", name + "_out.npy")) expect_golden("dino", name + "_out", out.blocks[i + 1], name);
  }
  expect_golden("dino", "tokens_norm", out.tokens, "tokens_norm");
  expect_golden("dino", "cls_embedding", out.tokens.select(1, 0), "tokens_norm");
  if (golden_path("dino", "patch_features_grid.npy"))
    expect_golden("dino", "patch_features_grid", out.patch_grid(), "tokens_norm");
  const at::Tensor cls_attention = out.last_attention.select(2, 0);
  expect_golden("dino", "last_attn_cls", cls_attention, "last_attn_cls");
  if (golden_path("dino", "last_attn_cls_patches_grid.npy"))
    expect_golden("dino", "last_attn_cls_patches_grid", cls_attention.narrow(2, 1, 784).reshape({1, 3, 28, 28}),
                  "last_attn_cls");
}

TEST(DinoModel, GoldenNonSquareInterpolatesPositions) {
  SEMFIELD_REQUIRE_GOLDEN("dino", "dino_weights.safetensors");
  at::InferenceMode guard;
  const DinoModel& model = golden_dino();
  const at::Tensor input = model.normalize(read_rgb("image_160x224.png"));
  ASSERT_EQ(input.sizes().vec(), (std::vector<int64_t>{1, 3, 160, 224}));
  if (const at::Tensor stored = semfield::test::golden_tensor("dino", "image_160x224_input.npy"); stored.defined()) {
    EXPECT_TRUE(at::equal(input, stored));
  }
  expect_golden("dino", "image_160x224_pos_embed", model.interpolate_pos_encoding(160, 224), "image_160x224_pos_embed");
  const DinoOutput out = model.forward(input, false, true);
  EXPECT_EQ(out.grid_height, 20);
  EXPECT_EQ(out.grid_width, 28);
  expect_golden("dino", "image_160x224_tokens_norm", out.tokens, "image_160x224_tokens_norm");
  expect_golden("dino", "image_160x224_last_attn_cls", out.last_attention.select(2, 0), "image_160x224_last_attn_cls");
}

TEST(DinoModel, PthWeightsEqualSafetensors) {
  SEMFIELD_REQUIRE_GOLDEN("dino", "dino_weights.pth");
  const DinoModel pth = DinoModel::load(*golden_path("dino", "dino_weights.pth"));
  const auto& a = pth.weights().entries();
  const auto& b = golden_dino().weights().entries();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(at::equal(a[i].second, b[i].second)) << a[i].first;
}

TEST(DinoModel, SquareImageOfAnotherSizeInterpolates) {
  SEMFIELD_REQUIRE_GOLDEN("dino", "dino_weights.safetensors");
  at::InferenceMode guard;
  const at::Tensor pos = golden_dino().interpolate_pos_encoding(112, 112);
  EXPECT_EQ(pos.sizes().vec(), (std::vector<int64_t>{1, 1 + 14 * 14, 96}));
  // The unchanged 224x224 case returns the table itself.
  EXPECT_TRUE(at::equal(golden_dino().interpolate_pos_encoding(224, 224), golden_dino().weights().entries()[1].second));
}

}  // namespace

// FeatureNeRF's teacher facet: the keys of block b are LayerNorm1 of block b's input (the golden output of block
// b - 1) through the key third of that block's qkv projection, heads concatenated head-major — computed here from the
// golden token stream and the weight file's own tensors, independently of the port's blocks.
TEST(DinoModel, BlockKeysAreTheKeyThirdOfQkvOnTheBlocksNormalisedInput) {
  SEMFIELD_REQUIRE_GOLDEN("dino", "dino_weights.safetensors");
  SEMFIELD_REQUIRE_GOLDEN("dino", "block1_out.npy");
  at::InferenceMode guard;
  const DinoModel& model = golden_dino();
  const at::Tensor input = model.normalize(read_rgb("image_224.png"));
  const SafetensorsFile file = read_safetensors(*golden_path("dino", "dino_weights.safetensors"));
  const auto w = [&](const std::string& name) { return array_to_tensor(file.tensors.at(name)).to(at::kFloat); };
  const at::Tensor block_in = semfield::test::golden_tensor("dino", "block1_out.npy");  // input of block 2
  const at::Tensor h = at::layer_norm(block_in, {96}, w("blocks.2.norm1.weight"), w("blocks.2.norm1.bias"), 1e-6);
  const at::Tensor expected =
      at::linear(h, w("blocks.2.attn.qkv.weight").narrow(0, 96, 96), w("blocks.2.attn.qkv.bias").narrow(0, 96, 96));
  int64_t gh = 0, gw = 0;
  const at::Tensor keys = model.block_keys(input, 2, &gh, &gw);
  ASSERT_EQ(keys.sizes().vec(), expected.sizes().vec());
  EXPECT_EQ(gh, 28);
  EXPECT_LT((keys - expected).abs().max().item<float>(), 1e-4f * expected.abs().max().item<float>());
  EXPECT_THROW(model.block_keys(input, 3), UsageError);
}
