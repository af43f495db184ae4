// The `files` teacher.
#include "semfield/teachers/file_teacher.h"

#include <cmath>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/core/tensor_state.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/npy.h"
#include "semfield/io/safetensors.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

at::Tensor as_map(at::Tensor t, const fs::path& file, const std::string& field) {
  if (t.dim() == 4 && t.size(0) == 1) t = t.squeeze(0);
  if (t.dim() != 3) fail_input(file, field, "expected a feature map [C,h,w], got shape {}", describe_tensor(t));
  if (!at::isFloatingType(t.scalar_type()))
    fail_input(file, field, "feature maps must be floating point, got {}", describe_tensor(t));
  t = t.to(at::kFloat).contiguous();
  if (!at::isfinite(t).all().item<bool>()) fail_input(file, field, "contains NaN or infinite values");
  return t;
}

}  // namespace

FileTeacher::FileTeacher(fs::path directory, const Scene& scene) : m_directory(std::move(directory)) {
  if (!fs::is_directory(m_directory)) fail_input(m_directory, "", "feature folder not found");
  const View* reference = nullptr;
  for (const View& v : scene.views)
    if (v.split == Split::Train) {
      reference = &v;
      break;
    }
  if (reference == nullptr) fail_input(scene.root, "", "the scene has no training views");
  const std::vector<at::Tensor> maps = read_maps(*reference);
  m_reference_height = reference->camera.intrinsics.height;
  m_reference_width = reference->camera.intrinsics.width;
  for (const at::Tensor& m : maps) {
    m_channels.push_back(m.size(0));
    m_sizes.emplace_back(m.size(1), m.size(2));
  }
}

bool FileTeacher::covers(const View& view) const {
  return fs::is_regular_file(m_directory / (view.name + ".npy")) ||
         fs::is_regular_file(m_directory / (view.name + ".safetensors"));
}

std::vector<at::Tensor> FileTeacher::read_maps(const View& view) const {
  const fs::path npy = m_directory / (view.name + ".npy");
  const fs::path st = m_directory / (view.name + ".safetensors");
  std::vector<at::Tensor> maps;
  if (fs::is_regular_file(npy)) {
    maps.push_back(as_map(array_to_tensor(read_npy(npy)), npy, ""));
  } else if (fs::is_regular_file(st)) {
    const SafetensorsFile file = read_safetensors(st);
    for (const auto& [name, array] : file.tensors) maps.push_back(as_map(array_to_tensor(array), st, name));
    if (maps.empty()) fail_input(st, "", "holds no tensors");
  } else {
    fail_input(m_directory, view.name, "no feature map {} or {} for view {}", npy.filename().string(),
               st.filename().string(), view.name);
  }
  return maps;
}

std::vector<std::pair<int64_t, int64_t>> FileTeacher::map_sizes(int64_t image_height, int64_t image_width) const {
  std::vector<std::pair<int64_t, int64_t>> out;
  for (const auto& [h, w] : m_sizes)
    out.emplace_back(std::max<int64_t>(1, std::llround(static_cast<double>(h) * image_height / m_reference_height)),
                     std::max<int64_t>(1, std::llround(static_cast<double>(w) * image_width / m_reference_width)));
  return out;
}

std::vector<at::Tensor> FileTeacher::compute(const TeacherInput& input) const {
  if (input.view == nullptr) fail_usage("{} reads precomputed maps and cannot run on rendered novel views", spec());
  const View& view = *input.view;
  std::vector<at::Tensor> maps = read_maps(view);
  const auto sizes = map_sizes(view.camera.intrinsics.height, view.camera.intrinsics.width);
  const fs::path file = fs::is_regular_file(m_directory / (view.name + ".npy"))
                            ? m_directory / (view.name + ".npy")
                            : m_directory / (view.name + ".safetensors");
  if (maps.size() != m_channels.size())
    fail_input(file, "", "has {} maps but the first training view has {}", maps.size(), m_channels.size());
  for (size_t s = 0; s < maps.size(); ++s) {
    if (maps[s].size(0) != m_channels[s] || maps[s].size(1) != sizes[s].first || maps[s].size(2) != sizes[s].second)
      fail_input(file, fmt::format("map {}", s), "has shape [{}, {}, {}], expected [{}, {}, {}]", maps[s].size(0),
                 maps[s].size(1), maps[s].size(2), m_channels[s], sizes[s].first, sizes[s].second);
  }
  return maps;
}

}  // namespace semfield
