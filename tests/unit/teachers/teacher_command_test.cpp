// `semfield teacher`: writes a teacher's maps as .npy / .safetensors and rejects bad requests with one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "semfield/io/npy.h"
#include "semfield/io/safetensors.h"
#include "support/test_support.h"

using namespace semfield;
using semfield::test::run_cli;
using semfield::test::TempDir;

namespace fs = std::filesystem;

namespace {

#define REQUIRE_CLI()                                                                      \
  do {                                                                                     \
    ASSERT_TRUE(fs::is_regular_file(SEMFIELD_CLI_PATH)) << "semfield CLI not built";      \
  } while (0)

const fs::path kDino = semfield::test::test_data_dir() / "golden" / "dino";

TEST(TeacherCommand, WritesDinoPatchFeatures) {
  REQUIRE_CLI();
  TempDir dir;
  const auto npy = run_cli("teacher --model dino:" + (kDino / "dino_weights.safetensors").string() + " --image " +
                           (kDino / "image_160x224.png").string() + " --out " + (dir / "f.npy").string());
  ASSERT_EQ(npy.exit_code, 0) << npy.output;
  EXPECT_EQ(read_npy(dir / "f.npy").shape, (std::vector<int64_t>{96, 28, 39}));
  const auto st = run_cli("teacher --model dino:" + kDino.string() + " --image " + (kDino / "image_224.png").string() +
                          " --out " + (dir / "f.safetensors").string());
  ASSERT_EQ(st.exit_code, 0) << st.output;
  const SafetensorsFile file = read_safetensors(dir / "f.safetensors");
  ASSERT_TRUE(file.tensors.count("scale0"));
  EXPECT_EQ(file.tensors.at("scale0").shape, (std::vector<int64_t>{96, 28, 28}));
}

TEST(TeacherCommand, Bf16EncoderPrecisionStaysCloseToFp32) {
  REQUIRE_CLI();
  TempDir dir;
  const std::string args = "teacher --model dino:" + (kDino / "dino_weights.safetensors").string() + " --image " +
                           (kDino / "image_224.png").string() + " --out ";
  const auto fp32 = run_cli(args + (dir / "f32.npy").string());
  ASSERT_EQ(fp32.exit_code, 0) << fp32.output;
  const auto bf16 = run_cli("--encoder-precision bf16 " + args + (dir / "bf16.npy").string());
  ASSERT_EQ(bf16.exit_code, 0) << bf16.output;
  const Array a = read_npy(dir / "f32.npy"), b = read_npy(dir / "bf16.npy");
  ASSERT_EQ(a.shape, b.shape);
  const std::vector<float> av = a.to_float(), bv = b.to_float();
  double max_ref = 0.0, max_diff = 0.0;
  for (size_t i = 0; i < av.size(); ++i) {
    max_ref = std::max(max_ref, std::abs(static_cast<double>(av[i])));
    max_diff = std::max(max_diff, std::abs(static_cast<double>(av[i]) - bv[i]));
  }
  EXPECT_GT(max_diff, 0.0);                // bf16 did run
  EXPECT_LT(max_diff, 0.0085 * max_ref);  // the golden bound of Bf16Precision.DinoTokensNearTheGolden
  const auto bad = run_cli("--encoder-precision fp16 " + args + (dir / "x.npy").string());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.output.find("--encoder-precision"), std::string::npos) << bad.output;
}

TEST(TeacherCommand, BadRequestsFailWithOneLine) {
  REQUIRE_CLI();
  TempDir dir;
  const std::string model = " --model dino:" + (kDino / "dino_weights.safetensors").string();
  const std::string image = " --image " + (kDino / "image_224.png").string();
  const auto text = run_cli("teacher" + model + " --text cat --out " + (dir / "t.npy").string());
  EXPECT_EQ(text.exit_code, 1);
  EXPECT_NE(text.output.find("--text needs a clip: model"), std::string::npos) << text.output;
  const auto ext = run_cli("teacher" + model + image + " --out " + (dir / "f.png").string());
  EXPECT_EQ(ext.exit_code, 1);
  EXPECT_NE(ext.output.find(".npy or .safetensors"), std::string::npos) << ext.output;
  const auto kind = run_cli("teacher --model mae:x" + image + " --out " + (dir / "f.npy").string());
  EXPECT_EQ(kind.exit_code, 1);
  EXPECT_NE(kind.output.find("sam:PATH, clip:PATH or dino:PATH"), std::string::npos) << kind.output;
  const auto weights = run_cli("teacher --model dino:" + (kDino / "image_224.png").string() + image + " --out " +
                               (dir / "f.npy").string());
  EXPECT_EQ(weights.exit_code, 1);
  EXPECT_NE(weights.output.find("is a PNG image, not a weight file"), std::string::npos) << weights.output;
}

}  // namespace
