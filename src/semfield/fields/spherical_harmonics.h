// Real spherical-harmonics encoding of unit view directions (the view-direction input of instant-ngp).
#pragma once

#include <ATen/core/Tensor.h>

namespace semfield {

/// dirs [N,3] unit vectors -> [N, degree^2] real SH basis values (degree 1..4). Not differentiable
/// w.r.t. dirs (view directions are never optimised).
at::Tensor spherical_harmonics(const at::Tensor& dirs, int degree);

}  // namespace semfield
