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

/// Whether an image has transparency: an alpha channel with some value below 254/255 (RGBA files written opaque
/// everywhere, as many exporters do, have none).
bool has_transparency(const Image& image);

/// An image without transparency (RGB, or RGBA opaque everywhere) whose border is a uniform backdrop -> RGBA with alpha
/// 0 on the backdrop and 1 elsewhere: the backdrop is every pixel within the tolerance (largest channel difference) of
/// the border's colour that is 4-connected to the border through such pixels, so a region of the backdrop's colour
/// inside the object stays opaque. The tolerance follows the border's noise: 4 standard deviations of its noisiest
/// channel, within [0.02, 0.08] (a rendered backdrop: 0.02, ~5 / 255, so a dark object on black keeps its
/// shading). nullopt when the border is not uniform or the image has transparency. The alpha is hard (0 / 1):
/// silhouette pixels that blend object and backdrop stay opaque.
std::optional<Image> key_uniform_backdrop(const Image& image);

}  // namespace semfield
