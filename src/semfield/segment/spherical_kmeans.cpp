// Spherical k-means with k-means++ seeding.
#include "semfield/segment/spherical_kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/splitmix64.h"
#include "semfield/render/parallel_slices.h"

namespace semfield {

// One GEMM per round for the cosines, and plain loops for everything else: as a chain of small LibTorch ops
// (argmax, index_add, norms, multinomial draws) the same work cost ~10 ms for 8192 points of 24 channels on a
// 2-core AVX2 machine, a third of a click's budget; now ~1 ms.
at::Tensor spherical_kmeans(const at::Tensor& x, int64_t k, int iterations, uint64_t seed) {
  SEMFIELD_ASSERT(x.dim() == 2 && k >= 1, "spherical_kmeans needs rows [N,C] and k >= 1");
  // The GEMMs are small: LibTorch's and the BLAS's threads cost more to wake than they save.
  const SerialTorchScope serial;
  const int64_t n = x.size(0), c = x.size(1);
  if (n == 0) return at::zeros({0, c});
  const at::Tensor points = x.to(at::kFloat).contiguous();
  const float* p = points.data_ptr<float>();
  k = std::min(k, n);
  SplitMix64 random(seed);

  // k-means++: each next centroid drawn with probability proportional to its squared chordal distance
  // 2 - 2 cos to the nearest centroid so far.
  std::vector<int64_t> chosen{static_cast<int64_t>(random.next_u64() % static_cast<uint64_t>(n))};
  std::vector<double> nearest(static_cast<size_t>(n), std::numeric_limits<double>::infinity());
  while (true) {
    const at::Tensor cosines = at::matmul(points, points[chosen.back()]).contiguous();
    const float* cos = cosines.data_ptr<float>();
    double total = 0;
    for (int64_t i = 0; i < n; ++i) {
      nearest[static_cast<size_t>(i)] = std::min(nearest[static_cast<size_t>(i)], std::max(0.0, 2.0 - 2.0 * cos[i]));
      total += nearest[static_cast<size_t>(i)];
    }
    if (static_cast<int64_t>(chosen.size()) == k || !(total > 0)) break;  // done, or fewer distinct points than k
    double draw = random.uniform() * total;
    int64_t next = -1;
    for (int64_t i = 0; i < n; ++i) {
      if (!(nearest[static_cast<size_t>(i)] > 0)) continue;
      next = i;  // the last candidate, should rounding leave the draw unspent
      draw -= nearest[static_cast<size_t>(i)];
      if (draw < 0) break;
    }
    chosen.push_back(next);
  }
  at::Tensor centroids = points.index_select(0, at::tensor(chosen, at::kLong)).contiguous();
  const int64_t m = centroids.size(0);

  std::vector<double> sums(static_cast<size_t>(m * c));
  for (int it = 0; it < iterations; ++it) {
    const at::Tensor cosines = at::matmul(points, centroids.t()).contiguous();  // [n, m]
    const float* cos = cosines.data_ptr<float>();
    std::fill(sums.begin(), sums.end(), 0.0);
    for (int64_t i = 0; i < n; ++i) {
      const float* row = cos + i * m;
      const int64_t best = std::max_element(row, row + m) - row;  // the first of equal maxima
      double* sum = sums.data() + best * c;
      for (int64_t j = 0; j < c; ++j) sum[j] += p[i * c + j];
    }
    float* cen = centroids.data_ptr<float>();
    for (int64_t r = 0; r < m; ++r) {
      const double* sum = sums.data() + r * c;
      double norm = 0;
      for (int64_t j = 0; j < c; ++j) norm += sum[j] * sum[j];
      norm = std::sqrt(norm);
      if (norm <= 1e-8) continue;  // no members: keep its place
      for (int64_t j = 0; j < c; ++j) cen[r * c + j] = static_cast<float>(sum[j] / norm);
    }
  }
  return centroids;
}

}  // namespace semfield
