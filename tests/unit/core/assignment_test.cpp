// Minimum-cost assignment against brute force over every permutation, and its edge cases.
#include <algorithm>
#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "semfield/core/assignment.h"

namespace semfield {
namespace {

double total(const std::vector<std::vector<double>>& c, const std::vector<int>& a) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] >= 0) s += c[i][static_cast<size_t>(a[i])];
  return s;
}

/// The least total over injective maps of the smaller side into the larger.
double brute_force(const std::vector<std::vector<double>>& c) {
  const size_t rows = c.size(), cols = c.front().size();
  const size_t big = std::max(rows, cols), small = std::min(rows, cols);
  std::vector<int> perm(big);
  std::iota(perm.begin(), perm.end(), 0);
  double best = 1e300;
  do {
    double s = 0;
    for (size_t k = 0; k < small; ++k)
      s += rows <= cols ? c[k][static_cast<size_t>(perm[k])] : c[static_cast<size_t>(perm[k])][k];
    best = std::min(best, s);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

TEST(MinCostAssignment, MatchesBruteForceOnRandomMatricesOfEveryShape) {
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> u(-1.0, 2.0);
  for (int trial = 0; trial < 60; ++trial) {
    const size_t rows = 1 + trial % 5, cols = 1 + (trial / 5) % 6;
    std::vector<std::vector<double>> c(rows, std::vector<double>(cols));
    for (auto& r : c)
      for (double& x : r) x = u(rng);
    const std::vector<int> a = min_cost_assignment(c);
    ASSERT_EQ(a.size(), rows);
    std::vector<int> used;
    for (int j : a)
      if (j >= 0) used.push_back(j);
    EXPECT_EQ(used.size(), std::min(rows, cols));
    std::sort(used.begin(), used.end());
    EXPECT_EQ(std::adjacent_find(used.begin(), used.end()), used.end()) << "a column assigned twice";
    EXPECT_NEAR(total(c, a), brute_force(c), 1e-9) << rows << "x" << cols;
  }
}

TEST(MinCostAssignment, HandComputedCaseAndEmptyInputs) {
  // Greedy (row 0 takes its cheapest, column 0) would cost 1 + 10; the optimum crosses over: 2 + 3.
  EXPECT_EQ(min_cost_assignment({{1, 2}, {3, 10}}), (std::vector<int>{1, 0}));
  EXPECT_TRUE(min_cost_assignment({}).empty());
  EXPECT_EQ(min_cost_assignment({{}, {}}), (std::vector<int>{-1, -1}));
}

}  // namespace
}  // namespace semfield
