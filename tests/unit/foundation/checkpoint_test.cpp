// Weight-file loading: format detection, .pth / .safetensors / TorchScript / Hugging Face naming, and the
// errors for renamed, reshaped, missing tensors and wrong file types.
#include <gtest/gtest.h>

#include <fstream>

#include <ATen/ATen.h>
#include <torch/script.h>

#include "golden_util.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/foundation/checkpoint_naming.h"
#include "semfield/foundation/dino_model.h"
#include "semfield/foundation/sam_model.h"
#include "semfield/foundation/torch_checkpoint.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/safetensors.h"
#include "support/test_support.h"

using namespace semfield;
using namespace semfield::foundation;
using semfield::test::golden_path;
using semfield::test::TempDir;

namespace fs = std::filesystem;

namespace {

TensorMap dino_tensors() { return load_weight_file(*golden_path("dino", "dino_weights.safetensors")); }

void save(const fs::path& path, const TensorMap& tensors) {
  SafetensorsFile file;
  for (const auto& [name, t] : tensors) file.tensors[name] = tensor_to_array(t);
  write_safetensors(path, file);
}

std::string load_error(const fs::path& path) {
  try {
    DinoModel::load(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

void expect_same_weights(const WeightSet& a, const WeightSet& b) {
  ASSERT_EQ(a.entries().size(), b.entries().size());
  for (size_t i = 0; i < a.entries().size(); ++i)
    EXPECT_TRUE(at::equal(a.entries()[i].second, b.entries()[i].second)) << a.entries()[i].first;
}

TEST(Checkpoint, SafetensorsAndPthHoldTheSameTensors) {
  SEMFIELD_REQUIRE_GOLDEN("dino", "dino_weights.pth");
  const TensorMap st = dino_tensors();
  const TensorMap pth = load_weight_file(*golden_path("dino", "dino_weights.pth"));
  EXPECT_EQ(detect_weight_format(*golden_path("dino", "dino_weights.pth")), WeightFormat::TorchZip);
  ASSERT_EQ(st.size(), 42u);
  ASSERT_EQ(pth.size(), st.size());
  for (const auto& [name, t] : st) {
    ASSERT_TRUE(pth.count(name)) << name;
    EXPECT_TRUE(at::equal(pth.at(name), t)) << name;
  }
}

TEST(Checkpoint, RenamedAndReshapedTensorsAreListed) {
  TensorMap tensors = dino_tensors();
  tensors["blocks.1.attn.qkvx.weight"] = tensors.at("blocks.1.attn.qkv.weight");
  tensors.erase("blocks.1.attn.qkv.weight");
  tensors["blocks.0.mlp.fc1.weight"] = tensors.at("blocks.0.mlp.fc1.weight").reshape({96, 384});
  for (const bool with_config : {true, false}) {
    TempDir dir;
    save(dir / "model.safetensors", tensors);
    if (with_config) fs::copy_file(*golden_path("dino", "config.json"), dir / "config.json");
    const std::string message = load_error(dir.path());
    SCOPED_TRACE(message);
    EXPECT_NE(message.find("model.safetensors"), std::string::npos);
    EXPECT_NE(message.find("1 missing: blocks.1.attn.qkv.weight [288, 96]"), std::string::npos);
    EXPECT_NE(message.find("1 unexpected: blocks.1.attn.qkvx.weight [288, 96]"), std::string::npos);
    EXPECT_NE(message.find("blocks.0.mlp.fc1.weight expected [384, 96] got [96, 384]"), std::string::npos);
  }
}

TEST(Checkpoint, ManyMismatchesAreCutShort) {
  TempDir dir;
  TensorMap renamed;
  for (const auto& [name, t] : dino_tensors()) {
    std::string n = name;
    if (n.rfind("blocks.1.", 0) == 0 || n.rfind("blocks.2.", 0) == 0) n = "layers." + n.substr(7);
    renamed[n] = t;
  }
  save(dir / "w.safetensors", renamed);
  fs::copy_file(*golden_path("dino", "config.json"), dir / "config.json");
  const std::string message = load_error(dir / "w.safetensors");
  EXPECT_NE(message.find("24 missing: "), std::string::npos) << message;
  EXPECT_NE(message.find("24 unexpected: "), std::string::npos) << message;
  EXPECT_NE(message.find("; ... and 19 more"), std::string::npos) << message;
  // Without the tensor inference needs, the error names it.
  TensorMap no_patch = dino_tensors();
  no_patch.erase("patch_embed.proj.weight");
  save(dir / "np.safetensors", no_patch);
  fs::remove(dir / "config.json");
  EXPECT_NE(load_error(dir / "np.safetensors").find("patch_embed.proj.weight: missing tensor"), std::string::npos);
}

TEST(Checkpoint, WrongFileTypesAreNamed) {
  TempDir dir;
  fs::copy_file(*golden_path("dino", "image_224.png"), dir / "weights.pth");
  EXPECT_NE(load_error(dir / "weights.pth").find("is a PNG image"), std::string::npos);
  semfield::test::write_text(dir / "config.pth", "{\"a\": 1}");
  EXPECT_NE(load_error(dir / "config.pth").find("is a JSON file"), std::string::npos);
  semfield::test::write_text(dir / "legacy.pth", std::string("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20", 10));
  EXPECT_NE(load_error(dir / "legacy.pth").find("legacy (pre-1.6)"), std::string::npos);
  semfield::test::write_text(dir / "noise.bin", "0123456789abcdef0123");
  EXPECT_NE(load_error(dir / "noise.bin").find("unrecognised weight file format"), std::string::npos);
  EXPECT_NE(load_error(dir / "missing.pth").find("not found"), std::string::npos);
  // A truncated zip and a truncated safetensors file.
  const std::string st = semfield::read_file_text(*golden_path("dino", "dino_weights.safetensors"));
  semfield::test::write_text(dir / "cut.safetensors", st.substr(0, st.size() / 2));
  EXPECT_NE(load_error(dir / "cut.safetensors").find("cut.safetensors"), std::string::npos);
  // The zip form is only in ../shared (too large for the repository).
  SEMFIELD_REQUIRE_GOLDEN("dino", "dino_weights.pth");
  const std::string zip = semfield::read_file_text(*golden_path("dino", "dino_weights.pth"));
  semfield::test::write_text(dir / "cut.pth", zip.substr(0, zip.size() / 2));
  EXPECT_NE(load_error(dir / "cut.pth").find("cut.pth"), std::string::npos);
  // A folder with nothing to load.
  TempDir empty;
  EXPECT_NE(load_error(empty.path()).find("no weight file"), std::string::npos);
}

TEST(Checkpoint, TorchScriptArchiveParametersAreRead) {
  // A scripted module holding the DINO weights as nested parameters, as OpenAI's CLIP .pt files do.
  const TensorMap tensors = dino_tensors();
  torch::jit::Module root("__torch__.Root");
  for (const auto& [name, t] : tensors) {
    std::vector<std::string> parts;
    std::string rest = name;
    for (size_t dot; (dot = rest.find('.')) != std::string::npos; rest = rest.substr(dot + 1))
      parts.push_back(rest.substr(0, dot));
    torch::jit::Module current = root;
    std::string qualified = "__torch__.Root";
    for (const std::string& part : parts) {
      qualified += "_" + part;
      if (!current.hasattr(part)) current.register_module(part, torch::jit::Module(qualified));
      current = current.attr(part).toModule();
    }
    current.register_parameter(rest, t.clone(), false);
  }
  TempDir dir;
  root.save((dir / "scripted.pt").string());
  EXPECT_EQ(detect_weight_format(dir / "scripted.pt"), WeightFormat::TorchScript);
  fs::copy_file(*golden_path("dino", "config.json"), dir / "config.json");
  const DinoModel scripted = DinoModel::load(dir / "scripted.pt");
  expect_same_weights(scripted.weights(), DinoModel::load(*golden_path("dino", "dino_weights.safetensors")).weights());
}

TEST(Checkpoint, DinoHuggingFaceNamingAndTrainingWrappers) {
  const TensorMap ref = dino_tensors();
  TensorMap hf;
  for (const auto& [name, t] : ref) {
    std::string n = name;
    if (n.find(".attn.qkv.") != std::string::npos) {
      const std::string base = "vit.encoder.layer." + n.substr(7, n.find('.', 7) - 7) + ".attention.attention.";
      const std::string kind = n.substr(n.rfind('.') + 1);
      const auto qkv = t.chunk(3, 0);
      hf[base + "query." + kind] = qkv[0];
      hf[base + "key." + kind] = qkv[1];
      hf[base + "value." + kind] = qkv[2];
      continue;
    }
    for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
             {"blocks.", "encoder.layer."}, {"attn.proj", "attention.output.dense"}, {"mlp.fc1", "intermediate.dense"},
             {"mlp.fc2", "output.dense"}, {"norm1", "layernorm_before"}, {"norm2", "layernorm_after"},
             {"patch_embed.proj", "embeddings.patch_embeddings.projection"}}) {
      const size_t at = n.find(from);
      if (at != std::string::npos) n.replace(at, from.size(), to);
    }
    if (n == "cls_token") n = "embeddings.cls_token";
    if (n == "pos_embed") n = "embeddings.position_embeddings";
    if (n.rfind("norm.", 0) == 0) n = "layernorm." + n.substr(5);
    hf["vit." + n] = t;
  }
  hf["vit.pooler.dense.weight"] = at::zeros({96, 96});
  const TensorMap back = dino_reference_names(hf, "hf");
  ASSERT_EQ(back.size(), ref.size());
  for (const auto& [name, t] : ref) {
    ASSERT_TRUE(back.count(name)) << name;
    EXPECT_TRUE(at::equal(back.at(name), t)) << name;
  }
  // A DINO training checkpoint's teacher: "backbone." names plus the projection head.
  TensorMap training;
  for (const auto& [name, t] : ref) training["backbone." + name] = t;
  training["head.mlp.0.weight"] = at::zeros({4, 96});
  EXPECT_EQ(dino_reference_names(training, "ckpt").size(), ref.size());
  // DINOv2 is refused by name.
  TensorMap v2 = ref;
  v2["blocks.0.ls1.gamma"] = at::zeros({96});
  EXPECT_THROW(dino_reference_names(v2, "v2"), InputError);
}

TEST(Checkpoint, SamHuggingFaceNaming) {
  SEMFIELD_REQUIRE_GOLDEN("sam", "sam_weights.safetensors");
  const TensorMap ref = load_weight_file(*golden_path("sam", "sam_weights.safetensors"));
  // Hugging Face's conversion table (convert_sam_to_hf.py), applied in its order, then its MLP renaming.
  const std::vector<std::pair<std::string, std::string>> table = {
      {"iou_prediction_head.layers.0", "iou_prediction_head.proj_in"},
      {"iou_prediction_head.layers.1", "iou_prediction_head.layers.0"},
      {"iou_prediction_head.layers.2", "iou_prediction_head.proj_out"},
      {"mask_decoder.output_upscaling.0", "mask_decoder.upscale_conv1"},
      {"mask_decoder.output_upscaling.1", "mask_decoder.upscale_layer_norm"},
      {"mask_decoder.output_upscaling.3", "mask_decoder.upscale_conv2"},
      {"mask_downscaling.0", "mask_embed.conv1"}, {"mask_downscaling.1", "mask_embed.layer_norm1"},
      {"mask_downscaling.3", "mask_embed.conv2"}, {"mask_downscaling.4", "mask_embed.layer_norm2"},
      {"mask_downscaling.6", "mask_embed.conv3"}, {"point_embeddings", "point_embed"},
      {"pe_layer.positional_encoding_gaussian_matrix", "shared_embedding.positional_embedding"},
      {"image_encoder", "vision_encoder"}, {"neck.0", "neck.conv1"}, {"neck.1", "neck.layer_norm1"},
      {"neck.2", "neck.conv2"}, {"neck.3", "neck.layer_norm2"}, {"patch_embed.proj", "patch_embed.projection"},
      {".norm", ".layer_norm"}, {"blocks", "layers"}};
  TensorMap hf;
  for (const auto& [name, t] : ref) {
    std::string n = name;
    for (const auto& [from, to] : table) {
      const size_t at = n.find(from);
      if (at != std::string::npos) n.replace(at, from.size(), to);
    }
    const size_t hyper = n.find("output_hypernetworks_mlps.");
    if (hyper != std::string::npos) {
      for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
               {".layers.0.", ".proj_in."}, {".layers.1.", ".layers.0."}, {".layers.2.", ".proj_out."}}) {
        const size_t at = n.find(from, hyper);
        if (at != std::string::npos) {
          n.replace(at, from.size(), to);
          break;
        }
      }
    }
    hf[n] = t;
  }
  hf["shared_image_embedding.positional_embedding"] = hf.at("prompt_encoder.shared_embedding.positional_embedding");
  ASSERT_TRUE(hf.count("vision_encoder.layers.0.layer_norm1.weight"));
  ASSERT_TRUE(hf.count("mask_decoder.transformer.layer_norm_final_attn.weight"));
  TempDir dir;
  save(dir / "model.safetensors", hf);
  fs::copy_file(*golden_path("sam", "config.json"), dir / "config.json");
  const SamModel from_hf = SamModel::load(dir.path());
  expect_same_weights(from_hf.weights(), SamModel::load(*golden_path("sam", "sam_weights.safetensors")).weights());
}

TEST(Checkpoint, SamConfigInferredWithoutConfigJson) {
  SEMFIELD_REQUIRE_GOLDEN("sam", "sam_weights.safetensors");
  TempDir dir;
  fs::copy_file(*golden_path("sam", "sam_weights.safetensors"), dir / "sam.safetensors");
  const SamModel model = SamModel::load(dir / "sam.safetensors");
  const SamConfig& c = model.config();
  EXPECT_EQ(c.num_heads, 4);   // from the rel-pos table width (head_dim 24)
  EXPECT_EQ(c.window_size, 14);
  EXPECT_EQ(c.global_attn_indexes, (std::vector<int64_t>{1, 3}));
  EXPECT_EQ(c.decoder_heads, 8);
  EXPECT_EQ(c.decoder_mlp_dim, 256);
  EXPECT_EQ(c.iou_head_hidden_dim, 64);
}

}  // namespace
