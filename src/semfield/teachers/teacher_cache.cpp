// On-disk cache of teacher maps.
#include "semfield/teachers/teacher_cache.h"

#include <chrono>

#include <ATen/ATen.h>
#include <fmt/format.h>

#include "semfield/core/crc32.h"
#include "semfield/core/error.h"
#include "semfield/core/log.h"
#include "semfield/foundation/transformer_ops.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/safetensors.h"

namespace semfield {

namespace fs = std::filesystem;

namespace {

uint32_t tc_fingerprint(const fs::path& weights, uint32_t seed) {
  std::error_code ec;
  auto add = [&](const fs::path& p) {
    const auto size = fs::file_size(p, ec);
    const auto time = fs::last_write_time(p, ec).time_since_epoch().count();
    const std::string text = fmt::format("{}|{}|{}", p.filename().string(), ec ? 0 : size, ec ? 0 : time);
    seed = crc32(text.data(), text.size(), seed);
  };
  if (fs::is_directory(weights, ec)) {
    for (const auto& entry : fs::directory_iterator(weights, ec))
      if (entry.is_regular_file()) add(entry.path());
  } else {
    add(weights);
  }
  return seed;
}

}  // namespace

CachedTeacher::CachedTeacher(std::unique_ptr<Teacher> inner, fs::path directory, const fs::path& weights)
    : m_inner(std::move(inner)), m_directory(std::move(directory)) {
  std::string spec = m_inner->spec();
  // bf16 encoders give other maps: their own entries (fp32 keys are unchanged, so existing caches stay valid).
  if (foundation::foundation_precision() != foundation::Precision::Float32)
    spec += std::string("|") + foundation::precision_name(foundation::foundation_precision());
  m_model_key = tc_fingerprint(weights, crc32(spec.data(), spec.size()));
  fs::create_directories(m_directory);
}

std::vector<at::Tensor> CachedTeacher::compute(const TeacherInput& input) const {
  const at::Tensor rgb = input.rgb.to(at::kFloat).contiguous();
  uint32_t key = crc32(rgb.data_ptr<float>(), static_cast<size_t>(rgb.numel()) * sizeof(float), m_model_key);
  const std::string shape = fmt::format("{}x{}x{}", rgb.size(0), rgb.size(1), rgb.dim() > 2 ? rgb.size(2) : 1);
  key = crc32(shape.data(), shape.size(), key);
  const fs::path path = m_directory / fmt::format("{:08x}_{:08x}.safetensors", m_model_key, key);
  const auto sizes = m_inner->map_sizes(rgb.size(0), rgb.size(1));
  const auto channels = m_inner->channels();
  std::error_code ec;
  if (fs::is_regular_file(path, ec)) {
    try {
      const SafetensorsFile file = read_safetensors(path);
      std::vector<at::Tensor> maps;
      for (size_t s = 0; s < sizes.size(); ++s) {
        const auto it = file.tensors.find(fmt::format("scale{}", s));
        if (it == file.tensors.end()) throw InputError(path, "", "missing scale");
        at::Tensor m = array_to_tensor(it->second).to(at::kFloat);
        if (m.dim() != 3 || m.size(0) != channels[s] || m.size(1) != sizes[s].first || m.size(2) != sizes[s].second)
          throw InputError(path, "", "shape does not match the teacher");
        maps.push_back(std::move(m));
      }
      ++m_hits;
      return maps;
    } catch (const Error& e) {
      log::warn("teacher cache: {} ({}); recomputing", path.string(), e.what());
    }
  }
  std::vector<at::Tensor> maps = m_inner->compute(input);
  SafetensorsFile file;
  for (size_t s = 0; s < maps.size(); ++s) file.tensors[fmt::format("scale{}", s)] = tensor_to_array(maps[s].to(at::kFloat).contiguous());
  file.metadata["teacher"] = m_inner->spec();
  write_safetensors(path, file);  // atomic (temp file + rename)
  ++m_misses;
  return maps;
}

}  // namespace semfield
