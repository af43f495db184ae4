// Label propagation over face adjacency and component-based cleanup of face selections.
#include "semfield/mesh/face_selection.h"

#include <algorithm>

#include "semfield/core/error.h"

namespace semfield {

std::vector<uint8_t> propagate_face_labels(const FaceAdjacency& adjacency, const std::vector<int8_t>& labels, int max_rings) {
  const size_t n = adjacency.offsets.size() - 1;
  SEMFIELD_ASSERT(labels.size() == n, "one label per face");
  std::vector<int8_t> out = labels;
  if (max_rings > 0) {
    // An unknown region mostly bordered by selected faces is enclosed by the object (its hidden underside;
    // a few rejected faces on its rim are the vote's noise at the silhouette) and is selected whole; one
    // bordered by rejected faces only is rejected. The others are left to the limited flood below.
    std::vector<uint8_t> unknown(n);
    for (size_t f = 0; f < n; ++f) unknown[f] = labels[f] == kUnknown;
    int32_t n_regions = 0;
    const std::vector<int32_t> region = connected_components(adjacency, unknown, &n_regions);
    // Border edges of each region to selected and to rejected faces.
    std::vector<int64_t> to_selected(static_cast<size_t>(n_regions), 0), to_rejected(static_cast<size_t>(n_regions), 0);
    for (size_t f = 0; f < n; ++f) {
      if (!unknown[f]) continue;
      for (int64_t i = adjacency.offsets[f]; i < adjacency.offsets[f + 1]; ++i) {
        const int8_t l = labels[static_cast<size_t>(adjacency.neighbors[static_cast<size_t>(i)])];
        if (l == kSelected) ++to_selected[static_cast<size_t>(region[f])];
        if (l == kRejected) ++to_rejected[static_cast<size_t>(region[f])];
      }
    }
    for (size_t f = 0; f < n; ++f)
      if (unknown[f]) {
        const auto r = static_cast<size_t>(region[f]);
        if (to_selected[r] > to_rejected[r]) out[f] = kSelected;
        else if (to_selected[r] == 0 && to_rejected[r] > 0) out[f] = kRejected;
      }
  }
  std::vector<int32_t> frontier, next;
  for (size_t f = 0; f < n; ++f)
    if (out[f] != kUnknown) frontier.push_back(static_cast<int32_t>(f));
  for (int ring = 0; !frontier.empty() && (max_rings <= 0 || ring < max_rings); ++ring) {
    next.clear();
    for (int32_t f : frontier)
      for (int64_t i = adjacency.offsets[static_cast<size_t>(f)]; i < adjacency.offsets[static_cast<size_t>(f) + 1]; ++i) {
        const auto g = static_cast<size_t>(adjacency.neighbors[static_cast<size_t>(i)]);
        if (out[g] != kUnknown) continue;
        out[g] = out[static_cast<size_t>(f)];
        next.push_back(static_cast<int32_t>(g));
      }
    std::swap(frontier, next);
  }
  std::vector<uint8_t> selected(n);
  for (size_t f = 0; f < n; ++f) selected[f] = out[f] == kSelected;
  return selected;
}

namespace {

// Faces in selected components smaller than `fraction` of the largest one, and the largest one's size.
int64_t drop_small_selected(const FaceAdjacency& adjacency, std::vector<uint8_t>& selected, double fraction) {
  int32_t n_in = 0;
  const std::vector<int32_t> component = connected_components(adjacency, selected, &n_in);
  if (n_in == 0) return 0;
  std::vector<int64_t> size(static_cast<size_t>(n_in), 0);
  for (int32_t c : component)
    if (c >= 0) ++size[static_cast<size_t>(c)];
  const int64_t largest = *std::max_element(size.begin(), size.end());
  for (size_t f = 0; f < selected.size(); ++f)
    if (selected[f] && static_cast<double>(size[static_cast<size_t>(component[f])]) < fraction * static_cast<double>(largest))
      selected[f] = 0;
  return largest;
}

// Morphological closing over face adjacency: `rings` rings of growth, then as many of shrinking.
void close_selection(const FaceAdjacency& adjacency, std::vector<uint8_t>& selected, int rings) {
  for (int step = 0; step < 2 * rings; ++step) {
    const uint8_t grow = step < rings ? 1 : 0;
    std::vector<uint8_t> next = selected;
    for (size_t f = 0; f < selected.size(); ++f) {
      if (selected[f] == grow) continue;
      for (int64_t i = adjacency.offsets[f]; i < adjacency.offsets[f + 1]; ++i)
        if (selected[static_cast<size_t>(adjacency.neighbors[static_cast<size_t>(i)])] == grow) {
          next[f] = grow;
          break;
        }
    }
    selected = std::move(next);
  }
}

// Selects the unselected components that touch the selection and have fewer than `limit` faces. A maximal
// unselected component borders nothing but selected faces, so a small one is a hole in the object rather
// than the rest of the scene.
void fill_holes(const FaceAdjacency& adjacency, std::vector<uint8_t>& selected, double limit) {
  const size_t n = selected.size();
  std::vector<uint8_t> unselected(n);
  for (size_t f = 0; f < n; ++f) unselected[f] = !selected[f];
  int32_t n_out = 0;
  const std::vector<int32_t> component = connected_components(adjacency, unselected, &n_out);
  std::vector<int64_t> size(static_cast<size_t>(n_out), 0);
  std::vector<uint8_t> touches(static_cast<size_t>(n_out), 0);
  for (size_t f = 0; f < n; ++f) {
    if (!unselected[f]) continue;
    const auto c = static_cast<size_t>(component[f]);
    ++size[c];
    for (int64_t i = adjacency.offsets[f]; i < adjacency.offsets[f + 1]; ++i)
      if (selected[static_cast<size_t>(adjacency.neighbors[static_cast<size_t>(i)])]) touches[c] = 1;
  }
  for (size_t f = 0; f < n; ++f)
    if (unselected[f] && touches[static_cast<size_t>(component[f])] &&
        static_cast<double>(size[static_cast<size_t>(component[f])]) < limit)
      selected[f] = 1;
}

}  // namespace

std::vector<uint8_t> clean_selection(const FaceAdjacency& adjacency, std::vector<uint8_t> selected,
                                     const SelectionCleanupOptions& options) {
  SEMFIELD_ASSERT(selected.size() == adjacency.offsets.size() - 1, "one flag per face");
  int64_t largest = 0;
  if (options.min_component_fraction > 0) largest = drop_small_selected(adjacency, selected, options.min_component_fraction);
  if (options.closing_rings > 0) close_selection(adjacency, selected, options.closing_rings);
  if (options.min_component_fraction > 0) fill_holes(adjacency, selected, options.min_component_fraction * static_cast<double>(largest));
  return selected;
}

}  // namespace semfield
