// The `labels` teacher.
#include "semfield/teachers/label_teacher.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <ATen/ATen.h>

#include "semfield/core/error.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/image.h"
#include "semfield/io/npy.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

// Integer ids of a raw single-channel image as int64 [h,w].
at::Tensor ids_from_image(const Image& image, const fs::path& origin) {
  if (image.channels != 1)
    fail_input(origin, "", "a label map must have one channel of integer ids, found {} channels", image.channels);
  at::Tensor ids = at::empty({image.height, image.width}, at::kLong);
  int64_t* out = ids.data_ptr<int64_t>();
  for (size_t i = 0; i < image.pixels.size(); ++i) {
    const float v = image.pixels[i];
    if (!(v >= 0) || v != std::floor(v))
      fail_input(origin, "", "label ids must be non-negative integers, found {} at pixel {}", v, i);
    out[i] = static_cast<int64_t>(v);
  }
  return ids;
}

at::Tensor ids_to_one_hot(const at::Tensor& ids, int64_t num_classes) {
  // -1 (unlabelled) -> an all-zero row.
  at::Tensor probs = at::zeros({num_classes, ids.size(0), ids.size(1)});
  const at::Tensor valid = ids.ge(0);
  probs.view({num_classes, -1}).scatter_(0, ids.clamp_min(0).view({1, -1}), valid.view({1, -1}).to(at::kFloat));
  return probs;
}

uint64_t name_hash(const std::string& name) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a: a stable per-view seed
  for (const char c : name) h = (h ^ static_cast<uint8_t>(c)) * 1099511628211ull;
  return h;
}

}  // namespace

LabelTeacher::LabelTeacher(LabelSource source, fs::path directory, const Scene& scene, LabelDegradation degradation)
    : m_source(source), m_directory(std::move(directory)), m_degradation(degradation) {
  if (m_degradation.noise_fraction < 0 || m_degradation.noise_fraction > 1 || m_degradation.keep_fraction <= 0 ||
      m_degradation.keep_fraction > 1)
    fail_usage("label noise must be in [0,1] and the kept fraction in (0,1], got {} and {}",
               m_degradation.noise_fraction, m_degradation.keep_fraction);
  if (m_source == LabelSource::Directory && !fs::is_directory(m_directory))
    fail_input(m_directory, "", "label folder not found");
  // The class count comes from labels.json too: a labels.json load_scene ignored must stop us here.
  if (m_source != LabelSource::Directory) scene.require_labels(spec());
  const auto& labels = m_source == LabelSource::Instance ? scene.instance_labels : scene.semantic_labels;
  if (m_source != LabelSource::Directory && !labels.empty()) m_num_classes = labels.rbegin()->first + 1;
  bool any = false;
  for (const View& view : scene.views) {
    // Missing maps are reported by compute() for the views training needs; evaluation skips uncovered ones.
    const at::Tensor map = read_map(view, false);
    if (!map.defined()) continue;
    any = true;
    const int64_t k = map.dim() == 3 ? map.size(0) : map.max().item<int64_t>() + 1;
    if (map.dim() == 2 && view.split == Split::Train) {
      const at::Tensor ids = std::get<0>(at::_unique(map.masked_select(map.ge(0))));
      for (int64_t i = 0; i < ids.numel(); ++i) m_train_classes.push_back(ids[i].item<int64_t>());
    }
    if (map.dim() == 3 && m_num_classes > 0 && k != m_num_classes)
      fail_input(m_directory / (view.name + ".npy"), "", "has {} classes but earlier maps have {}", k, m_num_classes);
    m_num_classes = std::max(m_num_classes, k);
  }
  if (!any) fail_input(scene.root, "", "{}: no label map found for any view", spec());
  m_num_classes = std::max<int64_t>(m_num_classes, 2);
  std::sort(m_train_classes.begin(), m_train_classes.end());
  m_train_classes.erase(std::unique(m_train_classes.begin(), m_train_classes.end()), m_train_classes.end());
}

std::string LabelTeacher::spec() const {
  switch (m_source) {
    case LabelSource::Semantic: return TeacherSpec{TeacherKind::Labels, "semantic"}.to_string();
    case LabelSource::Instance: return TeacherSpec{TeacherKind::Labels, "instance"}.to_string();
    case LabelSource::Directory: break;
  }
  return TeacherSpec{TeacherKind::Labels, m_directory.string()}.to_string();
}

at::Tensor LabelTeacher::read_map(const View& view, bool required) const {
  if (m_source != LabelSource::Directory) {
    const auto& image = m_source == LabelSource::Semantic ? view.semantic : view.instance;
    const fs::path& path = m_source == LabelSource::Semantic ? view.semantic_path : view.instance_path;
    if (!image) {
      if (!required) return {};
      fail_input(view.image_path, m_source == LabelSource::Semantic ? "semantic_path" : "instance_path",
                 "view {} has no {} label map ({} needs one for every training view)", view.name,
                 m_source == LabelSource::Semantic ? "semantic" : "instance", spec());
    }
    return ids_from_image(*image, path.empty() ? view.image_path : path);
  }
  const fs::path png = m_directory / (view.name + ".png");
  const fs::path npy = m_directory / (view.name + ".npy");
  const int64_t height = view.camera.intrinsics.height, width = view.camera.intrinsics.width;
  at::Tensor map;
  fs::path origin;
  if (fs::is_regular_file(png)) {
    origin = png;
    map = ids_from_image(read_image(png, ImageRange::Raw), png);
  } else if (fs::is_regular_file(npy)) {
    origin = npy;
    at::Tensor t = array_to_tensor(read_npy(npy));
    if (t.dim() == 2) {
      if (at::isFloatingType(t.scalar_type()) && !t.eq(t.floor()).all().item<bool>())
        fail_input(npy, "", "a 2-d label map must hold integer ids");
      map = t.to(at::kLong);
      if (map.lt(0).any().item<bool>()) fail_input(npy, "", "label ids must be non-negative");
    } else if (t.dim() == 3) {
      map = t.to(at::kFloat);
      if (!at::isfinite(map).all().item<bool>() || map.lt(0).any().item<bool>())
        fail_input(npy, "", "class probabilities must be finite and non-negative");
    } else {
      fail_input(npy, "", "expected integer ids [h,w] or class probabilities [K,h,w], got {} dimensions", t.dim());
    }
  } else {
    if (!required) return {};
    fail_input(m_directory, view.name, "no label map {} or {} for training view {}", png.filename().string(),
               npy.filename().string(), view.name);
  }
  // Maps may be coarser than the image, but must keep its aspect ratio (same rectangle, see teacher.h).
  const int64_t h = map.size(map.dim() - 2), w = map.size(map.dim() - 1);
  if (std::abs(static_cast<double>(h) * width - static_cast<double>(w) * height) > std::max(h, w))
    fail_input(origin, "", "map is {}x{} but the image is {}x{} (the aspect ratio must match)", w, h, width, height);
  return map;
}

at::Tensor LabelTeacher::label_ids(const View& view) const {
  const at::Tensor map = read_map(view, false);
  if (!map.defined()) return {};
  if (map.dim() == 2) return map;
  // Probabilities: arg-max, unlabelled where all are zero.
  return at::where(map.sum(0).gt(0), map.argmax(0), at::full_like(map.argmax(0), -1));
}

std::vector<std::pair<int64_t, int64_t>> LabelTeacher::map_sizes(int64_t image_height, int64_t image_width) const {
  return {{image_height, image_width}};
}

std::vector<at::Tensor> LabelTeacher::compute(const TeacherInput& input) const {
  if (input.view == nullptr) fail_usage("{} reads dataset label maps and cannot label rendered novel views", spec());
  const View& view = *input.view;
  at::Tensor map = read_map(view, true);
  if (map.dim() == 3) {
    if (map.size(0) != m_num_classes)
      fail_input(m_directory / (view.name + ".npy"), "", "has {} classes, expected {}", map.size(0), m_num_classes);
    return {map};
  }
  if (view.split == Split::Train && (m_degradation.noise_fraction > 0 || m_degradation.keep_fraction < 1)) {
    map = map.clone();
    std::mt19937_64 rng(m_degradation.seed ^ name_hash(view.name));
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    // Corrupted pixels take another of the classes the training maps contain (as in Semantic-NeRF's denoising
    // setting), never an id of the label table that the scene does not show.
    const auto n_classes = static_cast<int64_t>(m_train_classes.size());
    std::uniform_int_distribution<int64_t> other(0, std::max<int64_t>(n_classes - 2, 0));
    int64_t* ids = map.data_ptr<int64_t>();
    for (int64_t i = 0; i < map.numel(); ++i) {
      if (unit(rng) >= m_degradation.keep_fraction) {
        ids[i] = -1;
      } else if (ids[i] >= 0 && n_classes >= 2 && unit(rng) < m_degradation.noise_fraction) {
        const int64_t own = std::lower_bound(m_train_classes.begin(), m_train_classes.end(), ids[i]) -
                            m_train_classes.begin();
        int64_t j = other(rng);
        if (j >= own) ++j;  // skip the pixel's own class: a different class, uniformly
        ids[i] = m_train_classes[static_cast<size_t>(std::min(j, n_classes - 1))];
      }
    }
  }
  return {ids_to_one_hot(map, m_num_classes)};
}

std::unique_ptr<LabelTeacher> make_label_teacher(const TeacherSpec& spec, const Scene& scene,
                                                 LabelDegradation degradation) {
  if (spec.kind != TeacherKind::Labels)
    fail_usage("teacher '{}': expected labels:semantic, labels:instance or labels:DIR", spec.to_string());
  if (spec.arg == "semantic")
    return std::make_unique<LabelTeacher>(LabelSource::Semantic, fs::path(), scene, degradation);
  if (spec.arg == "instance")
    return std::make_unique<LabelTeacher>(LabelSource::Instance, fs::path(), scene, degradation);
  return std::make_unique<LabelTeacher>(LabelSource::Directory, fs::path(spec.arg), scene, degradation);
}

std::unique_ptr<LabelTeacher> make_label_teacher(const std::string& spec, const Scene& scene,
                                                 LabelDegradation degradation) {
  return make_label_teacher(TeacherSpec::parse(spec), scene, degradation);
}

}  // namespace semfield
