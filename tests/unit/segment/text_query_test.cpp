// LERF relevancy and Laser's text augmentation maths on hand-made embeddings.
#include "semfield/segment/text_query.h"

#include <cmath>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

namespace semfield {
namespace {

TEST(TextQuery, LerfRelevancyMatchesItsFormula) {
  const at::Tensor features = torch::tensor({{1.0f, 0.0f, 0.0f}, {0.0f, 3.0f, 0.0f}, {1.0f, 1.0f, 0.0f}});
  const at::Tensor query = torch::tensor({2.0f, 0.0f, 0.0f});
  const at::Tensor negatives = torch::tensor({{0.0f, 1.0f, 0.0f}, {0.0f, 0.0f, 1.0f}});
  const at::Tensor r = lerf_relevancy(features, query, negatives, 10.0);
  auto expected = [](double cq, std::initializer_list<double> cn) {
    double best = 1;
    for (double c : cn) best = std::min(best, std::exp(10 * cq) / (std::exp(10 * cq) + std::exp(10 * c)));
    return best;
  };
  const double s = 1 / std::sqrt(2.0);
  EXPECT_NEAR(r[0].item<double>(), expected(1, {0, 0}), 1e-6);
  EXPECT_NEAR(r[1].item<double>(), expected(0, {1, 0}), 1e-6);
  EXPECT_NEAR(r[2].item<double>(), expected(s, {s, 0}), 1e-6);  // a tie with a negative: exactly 0.5
  EXPECT_NEAR(r[2].item<double>(), 0.5, 1e-6);
  EXPECT_GT(r[0].item<double>(), 0.99);
  EXPECT_LT(r[1].item<double>(), 0.01);
}

TEST(TextQuery, RepeatedText) {
  EXPECT_EQ(repeat_text("red chair", 1), "red chair");
  EXPECT_EQ(repeat_text("red chair", 3), "red chair red chair red chair");
  EXPECT_EQ(canonical_negatives(), (std::vector<std::string>{"object", "things", "stuff", "texture"}));
}

TEST(TextQuery, StandardisationRescalesEachClassOverValidPixels) {
  const at::Tensor scores = torch::tensor({{0.2f, 0.4f, 0.3f, 9.0f}, {1.0f, 1.0f, 1.0f, 1.0f}});
  const at::Tensor valid = torch::tensor({true, true, true, false});
  const at::Tensor s = standardise_rows(scores, valid);
  EXPECT_TRUE(at::allclose(s[0].slice(0, 0, 3), torch::tensor({0.0f, 1.0f, 0.5f}), 1e-5, 1e-6));
  EXPECT_TRUE(s[1].eq(0.0f).all().item<bool>());  // constant row
  // Without a mask the outlier sets the range.
  EXPECT_NEAR(standardise_rows(scores)[0][1].item<float>(), 0.2f / 8.8f, 1e-6);
  EXPECT_TRUE(standardise_rows(scores, at::zeros({4}, at::kBool)).eq(0).all().item<bool>());
}

TEST(TextQuery, StandardisationFixesADominantClass) {
  // Laser's Fig. 5 case: text a is closer to every feature than text b, so a plain arg-max gives class a
  // everywhere, although the second pair of pixels is relatively much more "b" than the first pair.
  const at::Tensor texts = torch::tensor({{1.0f, 0.0f}, {0.0f, 1.0f}});
  const at::Tensor features = torch::tensor({{1.0f, 0.1f}, {1.0f, 0.15f}, {1.0f, 0.8f}, {1.0f, 0.9f}});
  const at::Tensor valid = at::ones({4}, at::kBool);
  EXPECT_TRUE(classify_features(features, texts, valid, false).equal(torch::tensor({0, 0, 0, 0}, at::kLong)));
  EXPECT_TRUE(classify_features(features, texts, valid, true).equal(torch::tensor({0, 0, 1, 1}, at::kLong)));
}

}  // namespace
}  // namespace semfield
