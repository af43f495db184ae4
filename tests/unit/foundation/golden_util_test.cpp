// Golden-vector helpers (compiled into test_foundation) and a check that the tolerance rule rejects a
// deviation of the size a wrong LayerNorm eps produces.
#include "golden_util.h"

#include <gtest/gtest-spi.h>

#include <algorithm>
#include <cstdio>

#include "semfield/core/json_reader.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/image.h"
#include "semfield/io/npy.h"
#include "support/test_support.h"

namespace semfield::test {

namespace fs = std::filesystem;

std::optional<fs::path> golden_path(const std::string& model, const std::string& name) {
  const fs::path local = test_data_dir() / "golden" / model / name;
  if (fs::is_regular_file(local)) return local;
  const fs::path shared = shared_dir() / "golden" / model / name;
  if (fs::is_regular_file(shared)) return shared;
  return std::nullopt;
}

at::Tensor golden_tensor(const std::string& model, const std::string& name) {
  const auto path = golden_path(model, name);
  if (!path) return {};
  return array_to_tensor(read_npy(*path));
}

at::Tensor golden_image_uint8(const std::string& model, const std::string& name) {
  const Image image = read_image(*golden_path(model, name), ImageRange::Raw);
  return at::from_blob(const_cast<float*>(image.pixels.data()), {image.height, image.width, image.channels}, at::kFloat)
      .to(at::kByte);
}

double expect_golden(const std::string& model, const std::string& name, const at::Tensor& got_in,
                     const std::string& fp64_key) {
  const at::Tensor ref = golden_tensor(model, name + ".npy");
  if (!ref.defined()) {
    ADD_FAILURE() << "golden file " << model << "/" << name << ".npy missing";
    return 1.0;
  }
  const at::Tensor got = got_in.to(at::kFloat).contiguous();
  EXPECT_EQ(got.sizes().vec(), ref.sizes().vec()) << model << "/" << name << ": shape";
  if (!got.sizes().equals(ref.sizes())) return 1.0;
  double fp64 = 0.0;
  if (!fp64_key.empty()) {
    const auto numerics = golden_path(model, "numerics_fp64.json");
    if (numerics) {
      const JsonNode j = JsonNode::parse_file(*numerics);
      if (auto entry = j.find(fp64_key)) fp64 = entry->at("max_abs_diff").as_double();
    }
  }
  const double max_ref = ref.abs().max().item<double>();
  const double max_err = (got - ref).abs().max().item<double>();
  const double tolerance = std::max(2e-5 * max_ref, 3.0 * fp64);
  const double rel = max_ref > 0 ? max_err / max_ref : max_err;
  EXPECT_LE(max_err, tolerance) << model << "/" << name << ": max abs err " << max_err << " (rel " << rel
                                << ") exceeds tolerance " << tolerance;
  std::printf("[golden] %s/%s: max abs err %.3g, rel to max|ref| %.3g (tolerance %.3g)\n", model.c_str(),
              name.c_str(), max_err, rel, tolerance);
  ::testing::Test::RecordProperty(model + "/" + name + "_rel_err", std::to_string(rel));
  return rel;
}

}  // namespace semfield::test

namespace {

TEST(GoldenUtil, ToleranceRejectsAnEpsSizedDeviation) {
  SEMFIELD_REQUIRE_GOLDEN("dino", "tokens_norm.npy");
  const at::Tensor ref = semfield::test::golden_tensor("dino", "tokens_norm.npy");
  // 1e-4 of the range is smaller than the 7e-4 a LayerNorm eps mistake causes in DINO (golden mutations.json).
  const at::Tensor bad = ref + 1e-4 * ref.abs().max();
  EXPECT_NONFATAL_FAILURE(semfield::test::expect_golden("dino", "tokens_norm", bad, "tokens_norm"), "exceeds");
  semfield::test::expect_golden("dino", "tokens_norm", ref, "tokens_norm");
}

}  // namespace
