// Objects photographed or rendered on a solid backdrop without alpha (another renderer's black or coloured
// background): finding the backdrop, and keying it out into an alpha channel.
#pragma once

#include <optional>

#include <Eigen/Core>

#include "semfield/io/image.h"

namespace semfield {

/// The mean colour of an RGB(A) image's one-pixel border when it is uniform (every channel's standard deviation over
/// the border <= `max_spread`): an object on a solid backdrop. nullopt for a varied border (a tabletop, a photo) or an
/// image smaller than 2 x 2.
std::optional<Eigen::Vector3d> uniform_border_colour(const Image& image, double max_spread = 0.02);

/// An RGB image whose border is a uniform backdrop -> RGBA with alpha 0 on the backdrop and 1 elsewhere: the backdrop
/// is every pixel within `tolerance` (largest channel difference) of the border's colour that is 4-connected to the
/// border through such pixels, so a region of the backdrop's colour inside the object stays opaque. nullopt when the
/// border is not uniform or the image already has alpha. The alpha is hard (0 / 1): silhouette pixels that blend
/// object and backdrop stay opaque.
std::optional<Image> key_uniform_backdrop(const Image& rgb, double tolerance = 0.08);

}  // namespace semfield
