// Teacher outputs cached on disk: a foundation-model teacher's maps of an image are computed once and read back by
// every later distillation, ablation or tool that asks for the same image with the same model and settings.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "semfield/teachers/teacher.h"

namespace semfield {

/// Wraps `inner`: compute() looks up DIR/<key>.safetensors, where the key hashes the image's pixels (float32 RGB,
/// exact), the teacher's spec and the size and modification time of its weight file(s) (`weights`: a file or
/// folder; a changed checkpoint gives new keys); a miss computes the maps and writes them atomically (float32, one
/// tensor per scale). An unreadable or mis-shaped entry is recomputed and replaced (logged), never trusted.
class CachedTeacher final : public Teacher {
 public:
  CachedTeacher(std::unique_ptr<Teacher> inner, std::filesystem::path directory, const std::filesystem::path& weights);

  std::string spec() const override { return m_inner->spec(); }
  TeacherOutputKind output_kind() const override { return m_inner->output_kind(); }
  std::vector<int64_t> channels() const override { return m_inner->channels(); }
  std::vector<std::pair<int64_t, int64_t>> map_sizes(int64_t h, int64_t w) const override { return m_inner->map_sizes(h, w); }
  bool runs_on_images() const override { return m_inner->runs_on_images(); }
  bool covers(const View& view) const override { return m_inner->covers(view); }
  std::vector<at::Tensor> compute(const TeacherInput& input) const override;

  /// Lookups answered from disk / computed since construction.
  int64_t hits() const { return m_hits; }
  int64_t misses() const { return m_misses; }

 private:
  std::unique_ptr<Teacher> m_inner;
  std::filesystem::path m_directory;
  uint32_t m_model_key = 0;
  mutable int64_t m_hits = 0, m_misses = 0;
};

}  // namespace semfield
