// The voxel-vote 3D selection and its .safetensors file format.
#include "semfield/segment/selection.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/safetensors.h"

namespace semfield {

namespace {

constexpr const char* kFormat = "semfield-selection";
constexpr const char* kVersion = "1";

// Continuous voxel coordinates of points: voxel (i, j, k) has its centre at integer coordinates (i, j, k).
at::Tensor voxel_coordinates(const Selection& selection, const at::Tensor& points) {
  SEMFIELD_ASSERT(points.dim() == 2 && points.size(1) == 3, "points must be [N,3]");
  const Eigen::Vector3f& lo = selection.aabb_min();
  const at::Tensor origin = at::tensor({lo.x(), lo.y(), lo.z()}, at::kFloat);
  return (points.to(at::kFloat) - origin) / selection.voxel_size() - 0.5f;
}

}  // namespace

Selection::Selection(const Eigen::Vector3f& aabb_min, const Eigen::Vector3f& aabb_max, int64_t resolution) {
  SEMFIELD_ASSERT(resolution >= 1, "selection resolution must be positive");
  const Eigen::Vector3f extent = aabb_max - aabb_min;
  SEMFIELD_ASSERT(extent.minCoeff() > 0, "selection box must have a positive extent");
  m_aabb_min = aabb_min;
  m_voxel_size = extent.maxCoeff() / static_cast<float>(resolution);
  for (int a = 0; a < 3; ++a)
    m_dims[a] = std::max<int64_t>(1, static_cast<int64_t>(std::lround(extent[a] / m_voxel_size)));
  m_positive = at::zeros({m_dims[0], m_dims[1], m_dims[2]}, at::kFloat);
  m_negative = at::zeros({m_dims[0], m_dims[1], m_dims[2]}, at::kFloat);
}

Eigen::Vector3f Selection::aabb_max() const {
  return m_aabb_min + Eigen::Vector3f(static_cast<float>(m_dims[0]), static_cast<float>(m_dims[1]),
                                      static_cast<float>(m_dims[2])) *
                          m_voxel_size;
}

void Selection::set_rule(double min_votes, double ratio) {
  SEMFIELD_ASSERT(min_votes > 0 && ratio >= 0 && ratio < 1, "selection rule out of range");
  m_min_votes = min_votes;
  m_ratio = ratio;
}

at::Tensor Selection::voxel_centres() const {
  std::vector<at::Tensor> axes;
  for (int a = 0; a < 3; ++a)
    axes.push_back((at::arange(m_dims[a], at::kFloat) + 0.5f) * m_voxel_size + m_aabb_min[a]);
  const std::vector<at::Tensor> grid = at::meshgrid(axes, "ij");
  return at::stack({grid[0].reshape(-1), grid[1].reshape(-1), grid[2].reshape(-1)}, 1).contiguous();
}

at::Tensor Selection::voxel_index(const at::Tensor& points_normalised) const {
  const at::Tensor idx = at::floor(voxel_coordinates(*this, points_normalised) + 0.5f).to(at::kLong);
  const at::Tensor dims = at::tensor({m_dims[0], m_dims[1], m_dims[2]}, at::kLong);
  const at::Tensor inside = ((idx >= 0) & (idx < dims)).all(1);
  const at::Tensor flat = (idx.select(1, 0) * m_dims[1] + idx.select(1, 1)) * m_dims[2] + idx.select(1, 2);
  return at::where(inside, flat, at::full_like(flat, -1));
}

at::Tensor Selection::selected_voxels() const {
  return (m_positive >= m_min_votes) & (m_positive > m_ratio * (m_positive + m_negative));
}

int64_t Selection::selected_count() const { return selected_voxels().sum().item<int64_t>(); }

at::Tensor Selection::contains(const at::Tensor& points_normalised) const {
  const at::Tensor index = voxel_index(points_normalised);
  const at::Tensor selected = selected_voxels().reshape(-1);
  const at::Tensor valid = index >= 0;
  return selected.index_select(0, index.clamp_min(0)) & valid;
}

at::Tensor Selection::membership(const at::Tensor& points_normalised) const {
  const at::Tensor coords = voxel_coordinates(*this, points_normalised);
  const at::Tensor base = at::floor(coords);
  const at::Tensor frac = coords - base;
  const at::Tensor base_idx = base.to(at::kLong);
  const at::Tensor indicator = selected_voxels().reshape(-1).to(at::kFloat);
  const at::Tensor dims = at::tensor({m_dims[0], m_dims[1], m_dims[2]}, at::kLong);
  at::Tensor out = at::zeros({points_normalised.size(0)}, at::kFloat);
  for (int corner = 0; corner < 8; ++corner) {
    const at::Tensor offset = at::tensor({corner >> 2 & 1, corner >> 1 & 1, corner & 1}, at::kLong);
    const at::Tensor idx = base_idx + offset;
    // Trilinear weight: frac along axes where the corner is the upper one, 1 - frac otherwise.
    const at::Tensor weight = at::where(offset.to(at::kBool), frac, 1.0f - frac).prod(1);
    const at::Tensor inside = ((idx >= 0) & (idx < dims)).all(1);
    const at::Tensor flat =
        ((idx.select(1, 0) * m_dims[1] + idx.select(1, 1)) * m_dims[2] + idx.select(1, 2)).clamp(0, voxel_count() - 1);
    out += weight * indicator.index_select(0, flat) * inside.to(at::kFloat);
  }
  // Points beyond the box's outer voxel centres still interpolate towards the (zero) outside; points outside
  // the box itself are 0 by definition.
  return at::where(voxel_index(points_normalised) >= 0, out, at::zeros_like(out));
}

void save_selection(const std::filesystem::path& path, const Selection& selection) {
  const Eigen::Vector3f lo = selection.aabb_min(), hi = selection.aabb_max();
  nlohmann::json meta = {{"aabb_min", {lo.x(), lo.y(), lo.z()}},
                         {"aabb_max", {hi.x(), hi.y(), hi.z()}},
                         {"voxel_size", selection.voxel_size()},
                         {"dims", {selection.dims()[0], selection.dims()[1], selection.dims()[2]}},
                         {"min_votes", selection.min_votes()},
                         {"ratio", selection.ratio()},
                         {"provenance", selection.provenance()}};
  SafetensorsFile file;
  file.tensors["positive"] = tensor_to_array(selection.positive().contiguous());
  file.tensors["negative"] = tensor_to_array(selection.negative().contiguous());
  file.metadata["format"] = kFormat;
  file.metadata["version"] = kVersion;
  file.metadata["selection"] = meta.dump();
  write_safetensors(path, file);
}

Selection load_selection(const std::filesystem::path& path) {
  const SafetensorsFile file = read_safetensors(path);
  const auto format = file.metadata.find("format");
  if (format == file.metadata.end() || format->second != kFormat)
    fail_input(path, "__metadata__.format", "not a semfield selection (expected \"{}\")", kFormat);
  const auto version = file.metadata.find("version");
  if (version == file.metadata.end() || version->second != kVersion)
    fail_input(path, "__metadata__.version", "unsupported selection version (expected \"{}\")", kVersion);
  const auto text = file.metadata.find("selection");
  if (text == file.metadata.end()) fail_input(path, "__metadata__.selection", "missing");
  const JsonNode meta = JsonNode::parse_text(text->second, path.string() + ": __metadata__.selection");
  meta.reject_unknown_keys({"aabb_min", "aabb_max", "voxel_size", "dims", "min_votes", "ratio", "provenance"});

  Selection selection;
  const std::vector<double> lo = meta.at("aabb_min").as_doubles();
  const std::vector<double> dims = meta.at("dims").as_doubles();
  if (lo.size() != 3) meta.at("aabb_min").fail("expected 3 numbers");
  if (dims.size() != 3) meta.at("dims").fail("expected 3 integers");
  selection.m_aabb_min = Eigen::Vector3f(static_cast<float>(lo[0]), static_cast<float>(lo[1]), static_cast<float>(lo[2]));
  selection.m_voxel_size = static_cast<float>(meta.at("voxel_size").as_double());
  if (!(selection.m_voxel_size > 0)) meta.at("voxel_size").fail("must be positive");
  for (int a = 0; a < 3; ++a) {
    const JsonNode d = meta.at("dims").at(static_cast<size_t>(a));
    selection.m_dims[a] = d.as_int();
    if (selection.m_dims[a] < 1 || selection.m_dims[a] > 4096) d.fail("must be in [1, 4096]");
  }
  selection.m_min_votes = meta.at("min_votes").as_double();
  selection.m_ratio = meta.at("ratio").as_double();
  if (!(selection.m_min_votes > 0)) meta.at("min_votes").fail("must be positive");
  if (!(selection.m_ratio >= 0 && selection.m_ratio < 1)) meta.at("ratio").fail("must be in [0, 1)");
  if (const auto provenance = meta.find("provenance")) selection.m_provenance = provenance->raw();

  const std::vector<int64_t> shape{selection.m_dims[0], selection.m_dims[1], selection.m_dims[2]};
  for (const char* name : {"positive", "negative"}) {
    const auto it = file.tensors.find(name);
    if (it == file.tensors.end()) fail_input(path, name, "missing tensor");
    if (it->second.dtype != DType::F32) fail_input(path, name, "expected float32, got {}", dtype_name(it->second.dtype));
    if (it->second.shape != shape)
      fail_input(path, name, "expected shape [{}, {}, {}] (from dims)", shape[0], shape[1], shape[2]);
    at::Tensor votes = array_to_tensor(it->second);
    if (!at::isfinite(votes).all().item<bool>() || (votes < 0).any().item<bool>())
      fail_input(path, name, "votes must be finite and non-negative");
    (std::string(name) == "positive" ? selection.m_positive : selection.m_negative) = votes;
  }
  return selection;
}

}  // namespace semfield
