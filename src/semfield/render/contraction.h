// Scene contraction for unbounded captures (mip-NeRF 360): identity inside the unit ball (L-inf norm,
// as in nerfstudio's "inf" contraction), points beyond map into [-2,2]^3: x -> (2 - 1/|x|) x/|x|.
#pragma once

#include <algorithm>
#include <cmath>

#include <ATen/core/Tensor.h>

namespace semfield {

/// Largest L-inf norm uncontract_point accepts; |y| = 2 itself is the image of infinity, so points on or
/// beyond it are pulled back to this norm (world norm 1 / (2 - kContractedMaxNorm) = 1e6) to stay finite.
constexpr float kContractedMaxNorm = 2.0f - 1e-6f;

/// x [N,3] -> contracted [N,3] (float32, CPU). Non-differentiable helper for sampling/grids.
at::Tensor contract_points(const at::Tensor& x);
/// Inverse of contract_points for points in [-2,2]^3 (norms clamped to kContractedMaxNorm).
at::Tensor uncontract_points(const at::Tensor& y);

/// Scalar versions used inside kernels (inline, branch-light so loops over points vectorise).
/// With n = |x|_inf: y = x if n <= 1, else y = (2 - 1/n) x / n. `x` and `y` may alias.
inline void contract_point(const float* x, float* y) {
  const float n = std::max(std::fabs(x[0]), std::max(std::fabs(x[1]), std::fabs(x[2])));
  // scale = (2 - 1/n) / n = (2n - 1) / n^2 outside the unit cube, 1 inside.
  const float scale = n > 1.0f ? (2.0f * n - 1.0f) / (n * n) : 1.0f;
  y[0] = x[0] * scale;
  y[1] = x[1] * scale;
  y[2] = x[2] * scale;
}

/// Inverse: with m = |y|_inf: x = y if m <= 1, else x = y n / m with n = 1 / (2 - m). `y`, `x` may alias.
inline void uncontract_point(const float* y, float* x) {
  const float m =
      std::min(std::max(std::fabs(y[0]), std::max(std::fabs(y[1]), std::fabs(y[2]))), kContractedMaxNorm);
  const float scale = m > 1.0f ? 1.0f / ((2.0f - m) * m) : 1.0f;
  x[0] = y[0] * scale;
  x[1] = y[1] * scale;
  x[2] = y[2] * scale;
}

}  // namespace semfield
