// Tensor versions of the L-inf scene contraction and its inverse, parallel over points.
#include "semfield/render/contraction.h"

#include <ATen/Parallel.h>
#include <torch/types.h>

#include "semfield/core/error.h"

namespace semfield {

namespace {

constexpr int64_t kGrainPoints = 4096;

template <void (*Op)(const float*, float*)>
at::Tensor map_points(const at::Tensor& in, const char* what) {
  SEMFIELD_ASSERT(in.dim() == 2 && in.size(1) == 3, fmt::format("{}: points must be [N,3]", what));
  SEMFIELD_ASSERT(in.scalar_type() == at::kFloat && in.device().is_cpu(),
                  fmt::format("{}: points must be float32 on the CPU", what));
  const at::Tensor src = in.contiguous();
  at::Tensor out = at::empty_like(src);
  const float* s = src.data_ptr<float>();
  float* d = out.data_ptr<float>();
  at::parallel_for(0, src.size(0), kGrainPoints, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) Op(s + 3 * i, d + 3 * i);
  });
  return out;
}

}  // namespace

at::Tensor contract_points(const at::Tensor& x) { return map_points<contract_point>(x, "contract_points"); }

at::Tensor uncontract_points(const at::Tensor& y) {
  return map_points<uncontract_point>(y, "uncontract_points");
}

}  // namespace semfield
