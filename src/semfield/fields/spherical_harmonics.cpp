// Real spherical harmonics up to degree 4 (bands l = 0..3), the standard orthonormal basis constants.
#include "semfield/fields/spherical_harmonics.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include "semfield/core/error.h"

namespace semfield {

at::Tensor spherical_harmonics(const at::Tensor& dirs_in, int degree) {
  TORCH_CHECK(dirs_in.dim() == 2 && dirs_in.size(1) == 3, "spherical_harmonics: dirs must be [N,3]");
  TORCH_CHECK(degree >= 1 && degree <= 4, "spherical_harmonics: degree must be 1..4");
  const at::Tensor dirs = dirs_in.to(at::kFloat).contiguous();
  const int64_t n = dirs.size(0);
  const int n_out = degree * degree;
  at::Tensor out = at::empty({n, n_out}, dirs.options());
  const float* d = dirs.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, n, 4096, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float x = d[3 * i], y = d[3 * i + 1], z = d[3 * i + 2];
      float* r = o + i * n_out;
      r[0] = 0.28209479177387814f;
      if (degree <= 1) continue;
      r[1] = -0.48860251190291987f * y;
      r[2] = 0.48860251190291987f * z;
      r[3] = -0.48860251190291987f * x;
      if (degree <= 2) continue;
      const float xx = x * x, yy = y * y, zz = z * z;
      r[4] = 1.0925484305920792f * x * y;
      r[5] = -1.0925484305920792f * y * z;
      r[6] = 0.94617469575755997f * zz - 0.31539156525251999f;
      r[7] = -1.0925484305920792f * x * z;
      r[8] = 0.54627421529603959f * (xx - yy);
      if (degree <= 3) continue;
      r[9] = 0.59004358992664352f * y * (3.0f * xx - yy);
      r[10] = 2.8906114426405538f * x * y * z;
      r[11] = 0.45704579946446572f * y * (1.0f - 5.0f * zz);
      r[12] = 0.3731763325901154f * z * (5.0f * zz - 3.0f);
      r[13] = 0.45704579946446572f * x * (1.0f - 5.0f * zz);
      r[14] = 1.4453057213202769f * z * (xx - yy);
      r[15] = 0.59004358992664352f * x * (xx - 3.0f * yy);
    }
  });
  return out;
}

}  // namespace semfield
