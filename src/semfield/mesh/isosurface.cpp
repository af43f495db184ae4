// Marching tetrahedra over the Kuhn split of each grid cell, in parallel over slabs of cells along x.
#include "semfield/mesh/isosurface.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <unordered_map>

#include "semfield/core/parallel.h"

namespace semfield {

namespace {

// Cell corners are numbered by their offset bits: bit 0 = +x, bit 1 = +y, bit 2 = +z. The Kuhn split
// walks from corner 0 to corner 7 adding one axis at a time; the six axis orders give six tetrahedra whose
// corners are nested bit sets (0 ⊂ a ⊂ a|b ⊂ 7), so every tetrahedron edge runs from a corner to a
// superset corner, and neighbouring cells split their shared face along the same diagonal.
constexpr std::array<std::array<int, 4>, 6> kTetrahedra = {{{0, 1, 3, 7},
                                                           {0, 1, 5, 7},
                                                           {0, 2, 3, 7},
                                                           {0, 2, 6, 7},
                                                           {0, 4, 5, 7},
                                                           {0, 4, 6, 7}}};

// One slab's output: triangles over slab-local vertices, each vertex named by its grid-edge key.
struct SlabMesh {
  std::vector<uint64_t> keys;
  std::vector<Eigen::Vector3f> positions;
  std::vector<Eigen::Vector3i> faces;
};

class SlabExtractor {
 public:
  SlabExtractor(const ScalarGrid& grid, float level, SlabMesh* out) : m_grid(grid), m_level(level), m_out(out) {}

  void cell(int i, int j, int k) {
    std::array<bool, 8> inside;
    int n_inside = 0;
    for (int c = 0; c < 8; ++c) {
      m_value[static_cast<size_t>(c)] = m_grid.at(i + (c & 1), j + ((c >> 1) & 1), k + ((c >> 2) & 1));
      inside[static_cast<size_t>(c)] = m_value[static_cast<size_t>(c)] > m_level;
      n_inside += inside[static_cast<size_t>(c)];
    }
    if (n_inside == 0 || n_inside == 8) return;
    m_i = i;
    m_j = j;
    m_k = k;
    for (const auto& tet : kTetrahedra) tetrahedron(tet, inside);
  }

 private:
  // The surface vertex on the edge between corners a and b (a's bits a subset of b's).
  int vertex(int a, int b) {
    const int lo = std::min(a, b), hi = std::max(a, b);
    const int64_t base = m_grid.index(m_i + (lo & 1), m_j + ((lo >> 1) & 1), m_k + ((lo >> 2) & 1));
    const uint64_t key = static_cast<uint64_t>(base) * 8u + static_cast<uint64_t>(lo ^ hi);
    const auto [it, added] = m_index.try_emplace(key, static_cast<int>(m_out->keys.size()));
    if (added) {
      const float va = m_value[static_cast<size_t>(lo)], vb = m_value[static_cast<size_t>(hi)];
      float t = (m_level - va) / (vb - va);
      if (!std::isfinite(t)) t = 0.5f;  // an infinite sample: put the vertex mid-edge
      t = std::clamp(t, 0.0f, 1.0f);
      const Eigen::Vector3f pa = corner_point(lo), pb = corner_point(hi);
      m_out->keys.push_back(key);
      m_out->positions.push_back(pa + t * (pb - pa));
    }
    return it->second;
  }

  Eigen::Vector3f corner_point(int c) const {
    return m_grid.point(m_i + (c & 1), m_j + ((c >> 1) & 1), m_k + ((c >> 2) & 1));
  }

  // Adds triangle (a, b, c), flipped if needed so that its normal points along `outward`.
  void emit(int a, int b, int c, const Eigen::Vector3f& outward) {
    const auto& p = m_out->positions;
    const Eigen::Vector3f n = (p[static_cast<size_t>(b)] - p[static_cast<size_t>(a)])
                                  .cross(p[static_cast<size_t>(c)] - p[static_cast<size_t>(a)]);
    if (n.dot(outward) < 0) std::swap(b, c);
    m_out->faces.emplace_back(a, b, c);
  }

  void tetrahedron(const std::array<int, 4>& tet, const std::array<bool, 8>& inside) {
    std::array<int, 4> in{}, out{};
    int n_in = 0, n_out = 0;
    for (int c : tet) (inside[static_cast<size_t>(c)] ? in[n_in++] : out[n_out++]) = c;
    if (n_in == 0 || n_out == 0) return;
    // Outward = from the inside corners' mean towards the outside corners'. The cut separates the two
    // sets, so this direction crosses the surface from inside to outside.
    Eigen::Vector3f mean_in = Eigen::Vector3f::Zero(), mean_out = Eigen::Vector3f::Zero();
    for (int q = 0; q < n_in; ++q) mean_in += corner_point(in[q]);
    for (int q = 0; q < n_out; ++q) mean_out += corner_point(out[q]);
    const Eigen::Vector3f outward = mean_out / static_cast<float>(n_out) - mean_in / static_cast<float>(n_in);
    if (n_in == 1) {
      emit(vertex(in[0], out[0]), vertex(in[0], out[1]), vertex(in[0], out[2]), outward);
    } else if (n_in == 3) {
      emit(vertex(in[0], out[0]), vertex(in[1], out[0]), vertex(in[2], out[0]), outward);
    } else {
      // Quad in cyclic order around the cut; both halves take the orientation of the whole quad.
      const int q0 = vertex(in[0], out[0]), q1 = vertex(in[0], out[1]), q2 = vertex(in[1], out[1]),
                q3 = vertex(in[1], out[0]);
      const auto& p = m_out->positions;
      const Eigen::Vector3f n = (p[static_cast<size_t>(q2)] - p[static_cast<size_t>(q0)])
                                    .cross(p[static_cast<size_t>(q3)] - p[static_cast<size_t>(q1)]);
      if (n.dot(outward) >= 0) {
        m_out->faces.emplace_back(q0, q1, q2);
        m_out->faces.emplace_back(q0, q2, q3);
      } else {
        m_out->faces.emplace_back(q0, q2, q1);
        m_out->faces.emplace_back(q0, q3, q2);
      }
    }
  }

  const ScalarGrid& m_grid;
  float m_level;
  SlabMesh* m_out;
  std::unordered_map<uint64_t, int> m_index;
  int m_i = 0, m_j = 0, m_k = 0;
  std::array<float, 8> m_value{};  ///< the current cell's corner samples
};

}  // namespace

TriangleMesh extract_isosurface(const ScalarGrid& grid, float level) {
  TriangleMesh mesh;
  if (grid.nx < 2 || grid.ny < 2 || grid.nz < 2) return mesh;
  const int n_cells_x = grid.nx - 1;
  std::vector<SlabMesh> slabs(static_cast<size_t>(n_cells_x));
  // One slab per x index of cells: enough chunks to balance, each with its own vertex map.
  parallel_for(0, n_cells_x, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      SlabExtractor extractor(grid, level, &slabs[static_cast<size_t>(i)]);
      for (int j = 0; j + 1 < grid.ny; ++j)
        for (int k = 0; k + 1 < grid.nz; ++k) extractor.cell(static_cast<int>(i), j, k);
    }
  });

  // Vertices on the plane between two slabs appear in both: number the distinct edge keys in key order.
  struct Entry {
    uint64_t key;
    int32_t slab, local;
  };
  std::vector<Entry> entries;
  for (size_t s = 0; s < slabs.size(); ++s)
    for (size_t v = 0; v < slabs[s].keys.size(); ++v)
      entries.push_back({slabs[s].keys[v], static_cast<int32_t>(s), static_cast<int32_t>(v)});
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
  std::vector<std::vector<int>> global(slabs.size());
  for (size_t s = 0; s < slabs.size(); ++s) global[s].resize(slabs[s].keys.size());
  for (size_t e = 0; e < entries.size(); ++e) {
    if (e == 0 || entries[e].key != entries[e - 1].key)
      mesh.vertices.push_back(slabs[static_cast<size_t>(entries[e].slab)].positions[static_cast<size_t>(entries[e].local)]);
    global[static_cast<size_t>(entries[e].slab)][static_cast<size_t>(entries[e].local)] =
        static_cast<int>(mesh.vertices.size()) - 1;
  }
  for (size_t s = 0; s < slabs.size(); ++s)
    for (const auto& f : slabs[s].faces)
      mesh.faces.emplace_back(global[s][static_cast<size_t>(f[0])], global[s][static_cast<size_t>(f[1])],
                              global[s][static_cast<size_t>(f[2])]);
  return mesh;
}

}  // namespace semfield
