// Spherical k-means: clusters of unit feature vectors by cosine similarity, used as the object and background
// appearance models of the similarity segmenter.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace semfield {

/// Clusters of the rows of x [N,C] (unit vectors): k-means++ seeding (with a generator seeded by `seed`, so results
/// are deterministic), then `iterations` rounds of assigning each row to the centroid of highest cosine and
/// replacing each centroid by its members' normalised mean (a centroid that loses all members keeps its place).
/// Returns [min(k, N), C] unit centroids; [0, C] for N == 0.
at::Tensor spherical_kmeans(const at::Tensor& x, int64_t k, int iterations = 8, uint64_t seed = 0);

}  // namespace semfield
