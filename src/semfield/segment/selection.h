// A 3D selection: a voxel grid of votes over the model's box that says which points of the scene belong to a
// selected object; built from 2D masks (with a visibility test) or from per-point decisions, rendered as a mask
// in any view, refined by further masks, and stored as a .safetensors file (`semfield segment` writes one,
// `semfield mesh --selection FILE` reads one).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>

#include <ATen/core/Tensor.h>
#include <Eigen/Core>
#include <nlohmann/json.hpp>

namespace semfield {

/// Voxels are cubes of edge `voxel_size` tiling the box [aabb_min, aabb_max] (normalised scene coordinates, the
/// frame of RadianceModel and of the run's cameras); dims[a] = max(1, round(extent_a / voxel_size)), the box
/// is then the grid's exact extent: aabb_max = aabb_min + dims * voxel_size. Voxel (i, j, k) (i along x, j along
/// y, k along z) is centred at aabb_min + (i + 0.5, j + 0.5, k + 0.5) * voxel_size.
///
/// Each voxel holds two non-negative vote weights: `positive` (seen inside a mask, or classified as the object)
/// and `negative` (seen outside the mask). A voxel is SELECTED when positive >= min_votes and
/// positive > ratio * (positive + negative); voxels nobody voted on are not selected.
///
/// File format (one .safetensors file; docs/segmentation.md): tensors "positive" and "negative", float32
/// [dims[0], dims[1], dims[2]]; "__metadata__" = {"format": "semfield-selection", "version": "1",
/// "selection": <JSON text>}, the JSON holding aabb_min, aabb_max ([3] numbers), voxel_size, dims, min_votes, ratio and
/// "provenance" (any JSON object: run, field, views, prompts, ...).
class Selection {
 public:
  /// An empty selection over the box with about `resolution` voxels along its longest side (>= 1).
  Selection(const Eigen::Vector3f& aabb_min, const Eigen::Vector3f& aabb_max, int64_t resolution);

  const Eigen::Vector3f& aabb_min() const { return m_aabb_min; }
  Eigen::Vector3f aabb_max() const;
  float voxel_size() const { return m_voxel_size; }
  const std::array<int64_t, 3>& dims() const { return m_dims; }
  int64_t voxel_count() const { return m_dims[0] * m_dims[1] * m_dims[2]; }

  /// Vote weights [dims[0], dims[1], dims[2]] float32 (contiguous; modify in place to vote).
  at::Tensor& positive() { return m_positive; }
  at::Tensor& negative() { return m_negative; }
  const at::Tensor& positive() const { return m_positive; }
  const at::Tensor& negative() const { return m_negative; }

  double min_votes() const { return m_min_votes; }
  double ratio() const { return m_ratio; }
  void set_rule(double min_votes, double ratio);

  /// Centres of all voxels [V, 3] float32, in the grid's memory order (i slowest, k fastest).
  at::Tensor voxel_centres() const;
  /// Flat voxel index [N] int64 of points [N,3] (nearest voxel), -1 for points outside the box.
  at::Tensor voxel_index(const at::Tensor& points_normalised) const;

  /// The selection rule per voxel: bool [dims[0], dims[1], dims[2]].
  at::Tensor selected_voxels() const;
  int64_t selected_count() const;
  bool empty() const { return selected_count() == 0; }

  /// Whether each point [N,3] (normalised scene coordinates, float) lies in a selected voxel: bool [N].
  /// Points outside the box are never contained. Thread-safe.
  at::Tensor contains(const at::Tensor& points_normalised) const;
  /// A smooth membership in [0,1] for points [N,3]: the trilinear interpolation of the selected-voxel
  /// indicator (0 outside the box), for callers that want sub-voxel boundaries (threshold 0.5 ~ contains).
  at::Tensor membership(const at::Tensor& points_normalised) const;

  /// Free-form description of where the selection came from (saved with it).
  nlohmann::json& provenance() { return m_provenance; }
  const nlohmann::json& provenance() const { return m_provenance; }

 private:
  friend Selection load_selection(const std::filesystem::path& path);
  Selection() = default;

  Eigen::Vector3f m_aabb_min = Eigen::Vector3f::Zero();
  float m_voxel_size = 1;
  std::array<int64_t, 3> m_dims{1, 1, 1};
  at::Tensor m_positive, m_negative;
  double m_min_votes = 0.5, m_ratio = 0.5;
  nlohmann::json m_provenance = nlohmann::json::object();
};

/// Writes the file format above atomically.
void save_selection(const std::filesystem::path& path, const Selection& selection);
/// Reads it back; InputError naming the file and the field for a missing/foreign file, a wrong format or
/// version, missing tensors, shapes that do not match the box, or negative/non-finite votes.
Selection load_selection(const std::filesystem::path& path);

}  // namespace semfield
