// Scores of keypoint transfer and part co-segmentation (correspondence_eval.h).
#include "semfield/pipeline/correspondence_eval.h"

#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "semfield/core/error.h"

namespace semfield {

void PckAccumulator::add(double distance) {
  ++m_count;
  for (size_t i = 0; i < m_thresholds.size(); ++i)
    if (distance <= m_thresholds[i]) ++m_hits[i];
}

std::vector<double> PckAccumulator::values() const {
  std::vector<double> out(m_thresholds.size(), 0.0);
  if (m_count == 0) return out;
  for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<double>(m_hits[i]) / static_cast<double>(m_count);
  return out;
}

std::vector<int64_t> present_parts(const at::Tensor& labels) {
  const at::Tensor u = std::get<0>(at::_unique(labels.reshape({-1}).to(at::kLong)));
  std::vector<int64_t> out;
  for (int64_t i = 0; i < u.size(0); ++i)
    if (u[i].item<int64_t>() > 0) out.push_back(u[i].item<int64_t>());
  std::sort(out.begin(), out.end());
  return out;
}

double pair_part_miou(const at::Tensor& predicted, const at::Tensor& truth, const std::vector<int64_t>& source_parts) {
  SEMFIELD_ASSERT(predicted.numel() == truth.numel(), "pair_part_miou: predicted and truth differ in size");
  const at::Tensor t = truth.reshape({-1}).to(at::kLong), p = predicted.reshape({-1}).to(at::kLong);
  const at::Tensor fg = t.gt(0);
  const std::set<int64_t> source(source_parts.begin(), source_parts.end());
  double sum = 0;
  int n = 0;
  for (int64_t part : present_parts(t)) {
    if (!source.count(part)) continue;
    const at::Tensor a = p.eq(part).logical_and(fg), b = t.eq(part);
    const double inter = a.logical_and(b).sum().item<double>(), uni = a.logical_or(b).sum().item<double>();
    sum += uni > 0 ? inter / uni : 0.0;
    ++n;
  }
  return n > 0 ? sum / n : -1.0;
}

namespace {

void check_rows(const char* what, const at::Tensor& queries, const at::Tensor& keys) {
  SEMFIELD_ASSERT(queries.dim() == 2 && keys.dim() == 2 && queries.size(1) == keys.size(1) && keys.size(0) > 0,
                  std::string(what) + ": [Q,C] and [K,C] with K > 0 expected");
}

/// The best key for each of `n` queries: `best(begin, count)` gives (values, indices) of queries [begin, begin +
/// count); chunks of 4,096 queries keep the score matrix at most [4096,K].
template <typename Best>
std::pair<at::Tensor, at::Tensor> best_in_chunks(int64_t n, Best best) {
  std::vector<at::Tensor> index, value;
  constexpr int64_t kChunk = 4096;
  for (int64_t b = 0; b < n; b += kChunk) {
    const auto [v, i] = best(b, std::min(kChunk, n - b));
    value.push_back(v);
    index.push_back(i);
  }
  if (index.empty()) return {at::zeros({0}, at::kLong), at::zeros({0})};
  return {at::cat(index), at::cat(value)};
}

}  // namespace

std::pair<at::Tensor, at::Tensor> cosine_nearest(const at::Tensor& queries, const at::Tensor& keys) {
  check_rows("cosine_nearest", queries, keys);
  const at::Tensor q = queries / queries.norm(2, 1, true).clamp_min(1e-12f);
  const at::Tensor kt = (keys / keys.norm(2, 1, true).clamp_min(1e-12f)).t();
  return best_in_chunks(q.size(0), [&](int64_t b, int64_t n) { return at::max(at::matmul(q.narrow(0, b, n), kt), 1); });
}

std::pair<at::Tensor, at::Tensor> euclidean_nearest(const at::Tensor& queries, const at::Tensor& keys) {
  check_rows("euclidean_nearest", queries, keys);
  const at::Tensor q = queries.to(at::kFloat), k = keys.to(at::kFloat);
  return best_in_chunks(q.size(0), [&](int64_t b, int64_t n) { return at::min(at::cdist(q.narrow(0, b, n), k), 1); });
}

}  // namespace semfield
