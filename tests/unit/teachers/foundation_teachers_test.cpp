// The sam:/clip:/dino: teachers: channels, map sizes for square and non-square images (SAM's crop of the
// padded embedding), and maps equal to the underlying model's output.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "semfield/foundation/pil_resize.h"
#include "semfield/foundation/sam_transforms.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/safetensors.h"
#include "semfield/teachers/clip_teacher.h"
#include "semfield/teachers/dino_teacher.h"
#include "semfield/teachers/sam_teacher.h"
#include "support/test_support.h"

using namespace semfield;
using namespace semfield::foundation;
using semfield::test::TempDir;

namespace fs = std::filesystem;

namespace {

void save_weights(const WeightSet& weights, const fs::path& path) {
  SafetensorsFile file;
  for (const auto& [name, t] : weights.entries()) file.tensors[name] = tensor_to_array(t);
  write_safetensors(path, file);
}

// A small SAM (256 px input, 16 x 16 embedding) with random weights, written without config.json so the
// teacher also exercises configuration inference.
SamConfig tiny_sam() {
  SamConfig c;
  c.img_size = 256, c.embed_dim = 32, c.depth = 2, c.num_heads = 2, c.window_size = 4, c.global_attn_indexes = {1};
  c.out_chans = c.prompt_embed_dim = c.transformer_dim = 32;
  c.decoder_mlp_dim = 64, c.iou_head_hidden_dim = 32, c.decoder_heads = 8;
  return c;
}

at::Tensor random_rgb(int64_t h, int64_t w) {
  return at::rand({h, w, 3}, at::make_generator<at::CPUGeneratorImpl>(7));
}

TEST(SamTeacher, CropsTheEmbeddingToTheImage) {
  TempDir dir;
  SamModel reference(tiny_sam());
  reference.weights().randomize(3, 0.05);
  save_weights(reference.weights(), dir / "sam_tiny.safetensors");
  const SamTeacher teacher((dir / "sam_tiny.safetensors").string());
  EXPECT_EQ(teacher.spec(), "sam:" + (dir / "sam_tiny.safetensors").string());
  EXPECT_EQ(teacher.channels(), std::vector<int64_t>{32});
  EXPECT_TRUE(teacher.runs_on_images());
  // 256 x 256: the whole 16 x 16 grid. 100 x 150 -> resized 171 x 256 -> cells with centre inside: 11 x 16.
  EXPECT_EQ(teacher.map_sizes(256, 256).front(), (std::pair<int64_t, int64_t>{16, 16}));
  EXPECT_EQ(teacher.map_sizes(100, 150).front(), (std::pair<int64_t, int64_t>{11, 16}));
  EXPECT_EQ(teacher.map_sizes(150, 100).front(), (std::pair<int64_t, int64_t>{16, 11}));
  // Official geometry: 1024 px, patch 16; 683 x 1024 keeps 43 rows, a 1-pixel-high image keeps one row.
  EXPECT_EQ(sam_valid_cells(SamConfig{}, 250, 375), (std::pair<int64_t, int64_t>{43, 64}));
  EXPECT_EQ(sam_valid_cells(SamConfig{}, 1, 4000), (std::pair<int64_t, int64_t>{1, 64}));

  TeacherInput input;
  input.rgb = random_rgb(100, 150);
  const std::vector<at::Tensor> maps = teacher.compute(input);
  ASSERT_EQ(maps.size(), 1u);
  EXPECT_EQ(maps[0].sizes().vec(), (std::vector<int64_t>{32, 11, 16}));
  at::InferenceMode guard;
  const SamImage full = teacher.model().set_image(to_uint8_image(input.rgb));
  EXPECT_TRUE(at::equal(maps[0], full.embedding[0].narrow(1, 0, 11)));
  EXPECT_TRUE(at::equal(teacher.model().weights().entries()[3].second, reference.weights().entries()[3].second));
}

TEST(DinoTeacher, PatchFeaturesOfAnyAspect) {
  const fs::path weights = semfield::test::test_data_dir() / "golden" / "dino" / "dino_weights.safetensors";
  const DinoTeacher teacher(weights.string());
  EXPECT_EQ(teacher.channels(), std::vector<int64_t>{96});
  EXPECT_EQ(teacher.map_sizes(224, 224).front(), (std::pair<int64_t, int64_t>{28, 28}));
  EXPECT_EQ(teacher.map_sizes(300, 480).front(), (std::pair<int64_t, int64_t>{28, 45}));
  TeacherInput input;
  input.rgb = random_rgb(60, 96);
  const at::Tensor map = teacher.compute(input).front();
  ASSERT_EQ(map.sizes().vec(), (std::vector<int64_t>{96, 28, 45}));
  at::InferenceMode guard;
  const at::Tensor resized = pil_resize(to_uint8_image(input.rgb), 224, 360, PilFilter::Bicubic);
  const DinoOutput out = teacher.model().forward(teacher.model().normalize(resized.to(at::kFloat) / 255.0f));
  EXPECT_TRUE(at::allclose(map, out.patch_grid()[0].permute({2, 0, 1})));
}

TEST(ClipTeacher, DenseJointFeaturesAndText) {
  TempDir dir;
  ClipConfig c;
  c.embed_dim = 16, c.vision_width = 32, c.vision_layers = 2, c.vision_heads = 2, c.vision_patch_size = 16;
  c.image_resolution = 64, c.transformer_width = 32, c.transformer_heads = 2, c.transformer_layers = 1;
  ClipModel reference(c);
  reference.weights().randomize(5, 0.05);
  save_weights(reference.weights(), dir / "clip.safetensors");
  for (const char* f : {"vocab.json", "merges.txt"})
    fs::copy_file(semfield::test::test_data_dir() / "golden" / "clip" / "tokenizer_subset" / f, dir / f);
  const ClipTeacher teacher(dir.path().string());
  EXPECT_EQ(teacher.channels(), std::vector<int64_t>{16});
  EXPECT_EQ(teacher.map_sizes(64, 64).front(), (std::pair<int64_t, int64_t>{4, 4}));
  EXPECT_EQ(teacher.map_sizes(90, 40).front(), (std::pair<int64_t, int64_t>{9, 4}));
  TeacherInput input;
  input.rgb = random_rgb(90, 40);
  const at::Tensor map = teacher.compute(input).front();
  EXPECT_EQ(map.sizes().vec(), (std::vector<int64_t>{16, 9, 4}));
  EXPECT_TRUE(at::isfinite(map).all().item<bool>());
  const at::Tensor text = teacher.encode_text({"a photo of a cat", "a dog"});
  EXPECT_EQ(text.sizes().vec(), (std::vector<int64_t>{2, 16}));
}

}  // namespace
