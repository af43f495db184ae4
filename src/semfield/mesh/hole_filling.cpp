// Boundary loops traced over directed rim edges, then capped by centroid fans.
#include "semfield/mesh/hole_filling.h"

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace semfield {

namespace {

uint64_t edge_key(int32_t a, int32_t b) {
  const auto lo = static_cast<uint32_t>(std::min(a, b)), hi = static_cast<uint32_t>(std::max(a, b));
  return (static_cast<uint64_t>(lo) << 32) | hi;
}

// Rim edges in the direction a cap must use them: the reverse of the one face that has the edge, so the
// cap's orientation continues the mesh's.
struct RimEdge {
  int32_t from, to;
  bool used = false;
};

void cap_loop(TriangleMesh& mesh, const std::vector<int32_t>& loop, HoleFillingStats& stats) {
  const size_t n = loop.size();
  ++stats.n_loops;
  if (n == 3) {
    mesh.faces.emplace_back(loop[0], loop[1], loop[2]);
    ++stats.n_faces_added;
    return;
  }
  Eigen::Vector3f centre = Eigen::Vector3f::Zero(), colour = Eigen::Vector3f::Zero();
  for (const int32_t v : loop) {
    centre += mesh.vertices[static_cast<size_t>(v)];
    if (mesh.has_colors()) colour += mesh.colors[static_cast<size_t>(v)];
  }
  const auto c = static_cast<int32_t>(mesh.vertices.size());
  mesh.vertices.push_back(centre / static_cast<float>(n));
  if (mesh.has_colors()) mesh.colors.push_back(colour / static_cast<float>(n));
  for (size_t i = 0; i < n; ++i) mesh.faces.emplace_back(loop[i], loop[(i + 1) % n], c);
  stats.n_faces_added += static_cast<int64_t>(n);
}

}  // namespace

HoleFillingStats fill_holes(TriangleMesh& mesh) {
  HoleFillingStats stats;
  std::unordered_map<uint64_t, int32_t> uses;
  uses.reserve(mesh.faces.size() * 2);
  for (const auto& f : mesh.faces)
    for (int k = 0; k < 3; ++k) ++uses[edge_key(f[k], f[(k + 1) % 3])];

  std::vector<RimEdge> rim;
  for (const auto& f : mesh.faces)
    for (int k = 0; k < 3; ++k) {
      const int32_t a = f[k], b = f[(k + 1) % 3];
      if (uses[edge_key(a, b)] == 1) rim.push_back({b, a});
    }
  if (rim.empty()) return stats;
  // Outgoing rim edges per vertex (a vertex where two rims touch has several).
  std::unordered_map<int32_t, std::vector<size_t>> outgoing;
  for (size_t e = 0; e < rim.size(); ++e) outgoing[rim[e].from].push_back(e);

  // Walk unused rim edges; when the walk returns to a vertex already on its path, the part of the path
  // since then is a simple loop and is capped at once, so no loop passes twice through a vertex.
  std::vector<int32_t> path;
  std::unordered_map<int32_t, size_t> position;  // vertex -> index in path
  for (size_t start = 0; start < rim.size(); ++start) {
    if (rim[start].used) continue;
    path.assign(1, rim[start].from);
    position.clear();
    position[rim[start].from] = 0;
    size_t edge = start;
    while (true) {
      rim[edge].used = true;
      const int32_t v = rim[edge].to;
      const auto seen = position.find(v);
      if (seen != position.end()) {
        const std::vector<int32_t> loop(path.begin() + static_cast<std::ptrdiff_t>(seen->second), path.end());
        for (size_t i = seen->second + 1; i < path.size(); ++i) position.erase(path[i]);
        path.resize(seen->second + 1);
        if (loop.size() >= 3) cap_loop(mesh, loop, stats);  // shorter ones only come from degenerate faces
      } else {
        position[v] = path.size();
        path.push_back(v);
      }
      const int32_t here = path.back();
      const std::vector<size_t>& out = outgoing[here];
      const auto next = std::find_if(out.begin(), out.end(), [&](size_t e) { return !rim[e].used; });
      if (next == out.end()) {
        if (path.size() > 1) ++stats.n_open_chains;
        break;
      }
      edge = *next;
    }
  }
  return stats;
}

}  // namespace semfield
