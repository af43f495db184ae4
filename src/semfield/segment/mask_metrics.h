// Measures on masks: intersection over union, and the visible centre of a mask (where a user would click).
#pragma once

#include <optional>

#include <ATen/core/Tensor.h>
#include <Eigen/Core>

namespace semfield {

/// Intersection over union of two bool masks of one shape; 1 when both are empty.
double mask_iou(const at::Tensor& a, const at::Tensor& b);

/// The mask's "visible centre": the pixel farthest from every pixel outside the mask (chamfer distance, with the
/// image border counting as outside), ties broken by the smallest row, then column. Returned in the click
/// convention (column, row). nullopt for an empty mask.
std::optional<Eigen::Vector2d> interior_point(const at::Tensor& mask);

}  // namespace semfield
