// The voxel-vote selection: geometry, the selection rule, point queries and its file format.
#include "semfield/segment/selection.h"

#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/safetensors.h"
#include "support/test_support.h"

namespace semfield {
namespace {

using ::testing::HasSubstr;

TEST(Selection, GridCoversTheBoxWithCubicVoxels) {
  const Selection s({-1, -1, -0.5f}, {1, 1, 0.5f}, 8);
  EXPECT_FLOAT_EQ(s.voxel_size(), 0.25f);
  EXPECT_EQ(s.dims(), (std::array<int64_t, 3>{8, 8, 4}));
  EXPECT_TRUE(s.aabb_max().isApprox(Eigen::Vector3f(1, 1, 0.5f)));
  const at::Tensor centres = s.voxel_centres();
  ASSERT_EQ(centres.size(0), 8 * 8 * 4);
  // Memory order: i slowest, k fastest.
  EXPECT_TRUE(at::allclose(centres[0], torch::tensor({-0.875f, -0.875f, -0.375f})));
  EXPECT_TRUE(at::allclose(centres[1], torch::tensor({-0.875f, -0.875f, -0.125f})));
  EXPECT_EQ(s.voxel_index(centres).equal(at::arange(8 * 8 * 4, at::kLong)), true);
  EXPECT_EQ(s.voxel_index(torch::tensor({{1.01f, 0.f, 0.f}, {0.f, 0.f, -0.51f}})).eq(-1).all().item<bool>(), true);
}

TEST(Selection, RuleAndPointQueries) {
  Selection s({0, 0, 0}, {1, 1, 1}, 4);
  EXPECT_TRUE(s.empty());
  // Voxel (1, 2, 3): 2 positive votes, 1 negative -> selected (2 > 0.5 * 3). Voxel (0, 0, 0): 1 vs 1 -> not.
  s.positive()[1][2][3] = 2.0f;
  s.negative()[1][2][3] = 1.0f;
  s.positive()[0][0][0] = 1.0f;
  s.negative()[0][0][0] = 1.0f;
  EXPECT_EQ(s.selected_count(), 1);
  const at::Tensor points = torch::tensor({{0.375f, 0.625f, 0.875f},   // centre of (1, 2, 3)
                                        {0.26f, 0.51f, 0.99f},      // inside (1, 2, 3)
                                        {0.125f, 0.125f, 0.125f},   // (0, 0, 0): tie, not selected
                                        {1.2f, 0.6f, 0.9f}});       // outside the box
  const at::Tensor inside = s.contains(points);
  EXPECT_EQ(inside.scalar_type(), at::kBool);
  EXPECT_TRUE(inside.equal(torch::tensor({true, true, false, false})));
  const at::Tensor m = s.membership(points);
  EXPECT_NEAR(m[0].item<float>(), 1.0f, 1e-6);
  EXPECT_GT(m[1].item<float>(), 0.0f);
  EXPECT_LT(m[1].item<float>(), 1.0f);
  EXPECT_EQ(m[3].item<float>(), 0.0f);
  // A stricter rule: 2 votes of 3 no longer beat a 0.7 share.
  s.set_rule(0.5, 0.7);
  EXPECT_TRUE(s.empty());
  s.set_rule(2.5, 0.5);
  EXPECT_TRUE(s.empty());
}

TEST(Selection, SavesAndLoadsExactly) {
  test::TempDir dir;
  Selection s({-1, -2, -3}, {1, 2, 3}, 6);
  s.positive()[0][1][2] = 3.5f;
  s.negative()[1][2][2] = 1.25f;  // dims (2, 4, 6): x, y, z
  s.set_rule(1.0, 0.6);
  s.provenance() = {{"view", "r_3"}, {"clicks", {{1, 2}}}};
  save_selection(dir / "sel.safetensors", s);
  const Selection loaded = load_selection(dir / "sel.safetensors");
  EXPECT_EQ(loaded.dims(), s.dims());
  EXPECT_TRUE(loaded.aabb_min().isApprox(s.aabb_min()));
  EXPECT_FLOAT_EQ(loaded.voxel_size(), s.voxel_size());
  EXPECT_TRUE(loaded.positive().equal(s.positive()));
  EXPECT_TRUE(loaded.negative().equal(s.negative()));
  EXPECT_EQ(loaded.min_votes(), 1.0);
  EXPECT_EQ(loaded.ratio(), 0.6);
  EXPECT_EQ(loaded.provenance()["view"], "r_3");
  EXPECT_EQ(loaded.selected_count(), 1);
}

std::string load_error(const std::filesystem::path& path) {
  try {
    load_selection(path);
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no InputError)";
}

TEST(Selection, RejectsForeignAndDamagedFiles) {
  test::TempDir dir;
  EXPECT_THAT(load_error(dir / "missing.safetensors"), HasSubstr("missing.safetensors"));
  test::write_text(dir / "text.safetensors", "hello");
  EXPECT_THAT(load_error(dir / "text.safetensors"), HasSubstr("text.safetensors"));

  SafetensorsFile foreign;
  foreign.tensors["x"] = tensor_to_array(at::zeros({2}));
  write_safetensors(dir / "foreign.safetensors", foreign);
  EXPECT_THAT(load_error(dir / "foreign.safetensors"), HasSubstr("not a semfield selection"));

  const Selection s({0, 0, 0}, {1, 1, 1}, 2);
  save_selection(dir / "good.safetensors", s);
  SafetensorsFile file = read_safetensors(dir / "good.safetensors");
  file.tensors["positive"] = tensor_to_array(at::zeros({2, 2, 3}));
  write_safetensors(dir / "shape.safetensors", file);
  EXPECT_THAT(load_error(dir / "shape.safetensors"), HasSubstr("positive: expected shape [2, 2, 2]"));
  file.tensors["positive"] = tensor_to_array(at::full({2, 2, 2}, -1.0f));
  write_safetensors(dir / "negative.safetensors", file);
  EXPECT_THAT(load_error(dir / "negative.safetensors"), HasSubstr("non-negative"));
  file = read_safetensors(dir / "good.safetensors");
  file.tensors.erase("negative");
  write_safetensors(dir / "partial.safetensors", file);
  EXPECT_THAT(load_error(dir / "partial.safetensors"), HasSubstr("negative: missing tensor"));
  file = read_safetensors(dir / "good.safetensors");
  file.metadata["version"] = "9";
  write_safetensors(dir / "version.safetensors", file);
  EXPECT_THAT(load_error(dir / "version.safetensors"), HasSubstr("unsupported selection version"));
  file = read_safetensors(dir / "good.safetensors");
  file.metadata["selection"] = R"({"aabb_min": [0, 0, 0], "voxel_size": 0.5, "dims": [2, 2, 2], "min_votes": 0.5,
                                   "ratio": 0.5, "colour": 1})";
  write_safetensors(dir / "key.safetensors", file);
  EXPECT_THAT(load_error(dir / "key.safetensors"), HasSubstr("colour"));
}

}  // namespace
}  // namespace semfield
