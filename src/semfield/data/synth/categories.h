// Parametric object categories (chair, table, mug, lamp, airplane) built from primitives, with part labels and
// named 3D keypoints: the instances of `semfield synth --category` (FeatureNeRF-style part and keypoint transfer).
//
// Canonical frame (the same for every instance, ShapeNet-like): z up, the object's front towards -y, its sides
// along x. Symmetric keypoints carry a `left_` / `right_` prefix: left = -x, right = +x, i.e. the viewer's left
// and right when looking at the object's front (for the airplane, whose nose is its front, left_ is the pilot's
// right). After building, every instance is translated and scaled uniformly so that the axis-aligned bounding box
// of its tessellated meshes (kCategorySegments) is centred at the origin with its longest edge exactly 1.
//
// Parts: id 0 is the background; ids 1..P are category_part_names(category) in order. Keypoints lie on the
// analytic surface of the primitive they belong to (|signed_distance| ~ 1e-15); a keypoint an instance lacks
// (the arms of an armless chair) is absent.
#pragma once

#include <string>
#include <vector>

#include <Eigen/Core>

#include "semfield/data/synth/shapes.h"
#include "semfield/data/synth/synth_rng.h"

namespace semfield::synth {

enum class ObjectCategory { Chair, Table, Mug, Lamp, Airplane };

/// Segments per full circle used to tessellate category objects (and to measure their bounding box).
constexpr int kCategorySegments = 64;

/// Every category, in enum order.
const std::vector<ObjectCategory>& all_categories();
/// "chair", "table", "mug", "lamp", "airplane".
const char* category_name(ObjectCategory category);
/// Inverse of category_name; UsageError listing the names for anything else.
ObjectCategory parse_category(const std::string& name);

/// Part names; part id = index + 1 (0 = background):
///   chair: back, seat, leg, arm              table: top, leg, support (stretchers, aprons, pedestal base)
///   mug: body, handle                        lamp: base, stem, shade
///   airplane: fuselage, wing, tail, engine
const std::vector<std::string>& category_part_names(ObjectCategory category);
/// Every keypoint name an instance of the category can have (instances hold a subset), see docs/formats.md.
const std::vector<std::string>& category_keypoint_names(ObjectCategory category);

struct CategoryKeypoint {
  std::string name;
  Eigen::Vector3d position = Eigen::Vector3d::Zero();  ///< canonical frame
  int part_id = 0;                                     ///< part of the primitive it lies on (1..P)
  int primitive = -1;                                  ///< index into CategoryObject::primitives
};

struct CategoryObject {
  ObjectCategory category = ObjectCategory::Chair;
  std::vector<Primitive> primitives;  ///< canonical frame, normalised (see above)
  std::vector<int> part_ids;          ///< part id of each primitive (1..P)
  std::vector<CategoryKeypoint> keypoints;  ///< in category_keypoint_names order
};

/// Builds one instance; deterministic for the generator's state. Proportions, part counts and styles, and
/// materials (one for the whole object or one per part) are drawn from `rng`.
CategoryObject make_category_object(ObjectCategory category, SynthRng& rng);

}  // namespace semfield::synth
