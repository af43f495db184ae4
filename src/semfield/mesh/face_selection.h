// Face selections on a mesh: filling in faces no view decided, and cleaning the selection's topology
// (specks dropped, pinholes filled) before the mesh is split into the object and the rest.
#pragma once

#include <cstdint>
#include <vector>

#include "semfield/mesh/mesh_topology.h"

namespace semfield {

/// Per-face decision: kSelected, kRejected or kUnknown (no view saw the face).
enum FaceLabel : int8_t { kRejected = -1, kUnknown = 0, kSelected = 1 };

/// Gives every kUnknown face the label of the nearest decided face, nearest in steps across shared edges
/// (a breadth-first flood from all decided faces at once; a face reached by both labels in the same step
/// takes the one of the neighbour reached first in face order, so the result is deterministic). With
/// max_rings > 0, a connected region of unknown faces whose border is mostly selected faces (more shared
/// edges with selected than with rejected ones) is selected whole, one bordered by rejected faces only is
/// rejected, and the flood into the others stops after max_rings steps. Faces it does not reach
/// (farther, or in a component with no decided face) become kRejected. Returns 0/1 flags (1 = selected).
std::vector<uint8_t> propagate_face_labels(const FaceAdjacency& adjacency, const std::vector<int8_t>& labels,
                                           int max_rings = 0);

/// clean_selection's steps, in order.
struct SelectionCleanupOptions {
  /// 1. Selected components with fewer faces than this fraction of the largest selected component are
  /// dropped (stray faces of other objects that passed the vote). 3. Unselected components that touch the
  /// selection and have fewer faces than the same limit are filled (pinholes in the object). 0 skips both.
  double min_component_fraction = 0.02;
  /// 2. A morphological closing over face adjacency: grow the selection by this many rings of faces and
  /// shrink it back by as many. It fills notches and slits along the cut that the vote leaves where views
  /// disagree (typically where the object touches something), so the object stays closed there; a smooth
  /// cut stays where it is. 0 skips it.
  int closing_rings = 2;
};
std::vector<uint8_t> clean_selection(const FaceAdjacency& adjacency, std::vector<uint8_t> selected,
                                     const SelectionCleanupOptions& options);

}  // namespace semfield
