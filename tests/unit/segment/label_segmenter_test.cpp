// Class-of-the-click selection for label fields.
#include "semfield/segment/label_segmenter.h"

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace semfield {
namespace {

TEST(LabelSegmenter, ClicksPickClassesNegativesRemoveThem) {
  // ids: 0 background, 1 ground, 2 and 3 objects.
  at::Tensor ids = at::zeros({6, 8}, at::kLong);
  ids.slice(0, 3, 6).fill_(1);
  ids.slice(0, 1, 3).slice(1, 1, 3).fill_(2);
  ids.slice(0, 2, 5).slice(1, 5, 7).fill_(3);
  const at::Tensor opacity = (ids > 0).to(at::kFloat);
  Prompts prompts;
  prompts.positive = {{1.5, 1.5}, {5, 2}};
  EXPECT_EQ(prompted_classes(ids, opacity, prompts), (std::set<int64_t>{2, 3}));
  prompts.negative = {{6.9, 4.9}};  // also on object 3
  EXPECT_EQ(prompted_classes(ids, opacity, prompts), (std::set<int64_t>{2}));
  // A click on the empty background selects nothing, whatever class the background latent renders there.
  Prompts empty;
  empty.positive = {{0.5, 0.5}};
  EXPECT_TRUE(prompted_classes(ids, opacity, empty).empty());
  EXPECT_EQ(class_mask(ids, {2}).sum().item<int64_t>(), 4);
  EXPECT_TRUE(class_mask(ids, {2, 3}).equal((ids == 2) | (ids == 3)));
  EXPECT_FALSE(class_mask(ids, {}).any().item<bool>());
  // A box alone takes its most frequent opaque class: the ground here, not the empty background.
  Prompts box;
  box.box = Eigen::Vector4d(0, 0, 7, 5);
  EXPECT_EQ(prompted_classes(ids, opacity, box), (std::set<int64_t>{1}));
  box.box = Eigen::Vector4d(5, 2, 6, 3);
  EXPECT_EQ(prompted_classes(ids, opacity, box), (std::set<int64_t>{3}));
}

}  // namespace
}  // namespace semfield
