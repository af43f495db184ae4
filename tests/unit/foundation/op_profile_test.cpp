// The per-op profile: off by default (nothing recorded), on it sums calls, time and FLOPs per name in order of
// first appearance, and a forward pass reports its ops.
#include "semfield/foundation/op_profile.h"

#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include "semfield/foundation/dino_model.h"

using namespace semfield::foundation;

TEST(OpProfile, RecordsOnlyWhenEnabled) {
  OpProfile::reset();
  { OpScope op("a", 10.0); }
  EXPECT_TRUE(OpProfile::entries().empty());
  OpProfile::enable(true);
  { OpScope op("a", 10.0); }
  { OpScope op("b"); }
  { OpScope op("a", 5.0); }
  OpProfile::enable(false);
  const auto entries = OpProfile::entries();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "a");
  EXPECT_EQ(entries[0].calls, 2);
  EXPECT_DOUBLE_EQ(entries[0].flops, 15.0);
  EXPECT_GE(entries[0].seconds, 0.0);
  EXPECT_EQ(entries[1].name, "b");
  OpProfile::reset();
  EXPECT_TRUE(OpProfile::entries().empty());
}

TEST(OpProfile, AForwardPassReportsItsOps) {
  DinoConfig config;
  config.patch_size = 8;
  config.embed_dim = 32;
  config.depth = 2;
  config.num_heads = 2;
  config.img_size = 32;
  DinoModel model(config);
  model.weights().randomize(1, 0.02);
  at::InferenceMode guard;
  OpProfile::reset();
  OpProfile::enable(true);
  model.forward(at::randn({1, 3, 32, 32}));
  OpProfile::enable(false);
  std::vector<std::string> names;
  for (const auto& e : OpProfile::entries()) {
    names.push_back(e.name);
    if (e.name == "mlp fc1") {
      EXPECT_EQ(e.calls, 2);
      // 17 tokens x 32 -> 128 per block, 2 blocks
      EXPECT_DOUBLE_EQ(e.flops, 2.0 * 2 * 17 * 32 * 128);
    }
  }
  for (const char* op : {"qkv linear", "attention q k^T", "attention softmax (+ scale, mask, rel-pos)",
                         "attention p v", "proj linear", "mlp fc1", "mlp activation", "mlp fc2"})
    EXPECT_NE(std::find(names.begin(), names.end(), op), names.end()) << op;
  OpProfile::reset();
}
