// Segment views made by hand: what render_field_view would give, from a test's own ray cast and feature maps.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

#include "semfield/segment/segment_view.h"

namespace semfield::test {

/// The view of `camera` with features maps [C,H,W], z-depth [H,W] and opacity [H,W].
inline SegmentView segment_view(const Camera& camera, const at::Tensor& maps, const at::Tensor& depth,
                                const at::Tensor& opacity, const std::string& name = "test") {
  SegmentView view;
  view.name = name;
  view.camera = camera;
  view.maps = maps;
  view.depth = depth;
  view.opacity = opacity;
  return view;
}

}  // namespace semfield::test
