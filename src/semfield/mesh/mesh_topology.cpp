// Edge counting, face adjacency and connected components of triangle meshes.
#include "semfield/mesh/mesh_topology.h"

#include <algorithm>
#include <numeric>

#include "semfield/core/error.h"

namespace semfield {

namespace {

struct HalfEdge {
  uint64_t key;  ///< (min vertex, max vertex) packed
  int32_t face;
  int8_t slot;   ///< edge k of the face: (face[k], face[(k + 1) % 3])
};

// Every face's three edges, sorted so that the faces sharing an undirected edge are adjacent.
std::vector<HalfEdge> sorted_half_edges(const TriangleMesh& mesh) {
  std::vector<HalfEdge> edges;
  edges.reserve(mesh.faces.size() * 3);
  for (size_t f = 0; f < mesh.faces.size(); ++f)
    for (int k = 0; k < 3; ++k) {
      const uint32_t a = static_cast<uint32_t>(mesh.faces[f][k]);
      const uint32_t b = static_cast<uint32_t>(mesh.faces[f][(k + 1) % 3]);
      const uint64_t key = (static_cast<uint64_t>(std::min(a, b)) << 32) | std::max(a, b);
      edges.push_back({key, static_cast<int32_t>(f), static_cast<int8_t>(k)});
    }
  std::sort(edges.begin(), edges.end(), [](const HalfEdge& x, const HalfEdge& y) {
    return x.key != y.key ? x.key < y.key : x.face < y.face;
  });
  return edges;
}

// Calls fn(begin, end) for each run of half-edges with the same undirected edge.
template <typename Fn>
void for_each_edge(const std::vector<HalfEdge>& edges, Fn&& fn) {
  for (size_t i = 0; i < edges.size();) {
    size_t j = i + 1;
    while (j < edges.size() && edges[j].key == edges[i].key) ++j;
    fn(i, j);
    i = j;
  }
}

int32_t find_root(std::vector<int32_t>& parent, int32_t x) {
  while (parent[static_cast<size_t>(x)] != x) {
    parent[static_cast<size_t>(x)] = parent[static_cast<size_t>(parent[static_cast<size_t>(x)])];
    x = parent[static_cast<size_t>(x)];
  }
  return x;
}

}  // namespace

EdgeStats edge_stats(const TriangleMesh& mesh) {
  const std::vector<HalfEdge> edges = sorted_half_edges(mesh);
  EdgeStats stats;
  std::vector<int32_t> parent(mesh.vertices.size());
  std::iota(parent.begin(), parent.end(), 0);
  std::vector<uint8_t> on_boundary(mesh.vertices.size(), 0);
  for_each_edge(edges, [&](size_t b, size_t e) {
    ++stats.n_edges;
    if (e - b >= 3) ++stats.n_nonmanifold;
    if (e - b != 1) return;
    ++stats.n_boundary;
    const auto u = static_cast<int32_t>(edges[b].key >> 32), v = static_cast<int32_t>(edges[b].key & 0xffffffffu);
    on_boundary[static_cast<size_t>(u)] = on_boundary[static_cast<size_t>(v)] = 1;
    parent[static_cast<size_t>(find_root(parent, u))] = find_root(parent, v);
  });
  for (size_t v = 0; v < parent.size(); ++v)
    if (on_boundary[v] && find_root(parent, static_cast<int32_t>(v)) == static_cast<int32_t>(v))
      ++stats.n_boundary_loops;
  return stats;
}

std::vector<uint8_t> boundary_edge_flags(const TriangleMesh& mesh) {
  const std::vector<HalfEdge> edges = sorted_half_edges(mesh);
  std::vector<uint8_t> flags(mesh.faces.size(), 0);
  for_each_edge(edges, [&](size_t b, size_t e) {
    if (e - b == 1) flags[static_cast<size_t>(edges[b].face)] |= static_cast<uint8_t>(1u << edges[b].slot);
  });
  return flags;
}

FaceAdjacency face_adjacency(const TriangleMesh& mesh) {
  const std::vector<HalfEdge> edges = sorted_half_edges(mesh);
  FaceAdjacency adj;
  adj.offsets.assign(mesh.faces.size() + 1, 0);
  for_each_edge(edges, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) adj.offsets[static_cast<size_t>(edges[i].face) + 1] += static_cast<int64_t>(e - b - 1);
  });
  for (size_t f = 0; f < mesh.faces.size(); ++f) adj.offsets[f + 1] += adj.offsets[f];
  adj.neighbors.resize(static_cast<size_t>(adj.offsets.back()));
  std::vector<int64_t> fill(adj.offsets.begin(), adj.offsets.end() - 1);
  for_each_edge(edges, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i)
      for (size_t j = b; j < e; ++j)
        if (i != j) adj.neighbors[static_cast<size_t>(fill[static_cast<size_t>(edges[i].face)]++)] = edges[j].face;
  });
  return adj;
}

std::vector<int32_t> connected_components(const FaceAdjacency& adjacency, const std::vector<uint8_t>& mask,
                                          int32_t* n_components) {
  const size_t n = adjacency.offsets.size() - 1;
  SEMFIELD_ASSERT(mask.empty() || mask.size() == n, "one mask entry per face");
  std::vector<int32_t> component(n, -1);
  std::vector<int32_t> stack;
  int32_t next = 0;
  for (size_t seed = 0; seed < n; ++seed) {
    if (component[seed] >= 0 || (!mask.empty() && !mask[seed])) continue;
    component[seed] = next;
    stack.push_back(static_cast<int32_t>(seed));
    while (!stack.empty()) {
      const auto f = static_cast<size_t>(stack.back());
      stack.pop_back();
      for (int64_t i = adjacency.offsets[f]; i < adjacency.offsets[f + 1]; ++i) {
        const auto g = static_cast<size_t>(adjacency.neighbors[static_cast<size_t>(i)]);
        if (component[g] >= 0 || (!mask.empty() && !mask[g])) continue;
        component[g] = next;
        stack.push_back(static_cast<int32_t>(g));
      }
    }
    ++next;
  }
  if (n_components) *n_components = next;
  return component;
}

TriangleMesh remove_small_components(const TriangleMesh& mesh, double min_fraction) {
  int32_t n = 0;
  const std::vector<int32_t> component = connected_components(face_adjacency(mesh), {}, &n);
  std::vector<int64_t> size(static_cast<size_t>(n), 0);
  for (int32_t c : component) ++size[static_cast<size_t>(c)];
  const int64_t largest = size.empty() ? 0 : *std::max_element(size.begin(), size.end());
  std::vector<uint8_t> keep(mesh.faces.size());
  for (size_t f = 0; f < keep.size(); ++f)
    keep[f] = static_cast<double>(size[static_cast<size_t>(component[f])]) >= min_fraction * static_cast<double>(largest);
  return submesh(mesh, keep);
}

}  // namespace semfield
