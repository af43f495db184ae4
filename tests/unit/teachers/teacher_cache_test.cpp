// The on-disk teacher cache: a second request for the same image is read back without running the teacher, other
// images / models miss, and a damaged entry is recomputed.
#include "semfield/teachers/teacher_cache.h"

#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "support/test_support.h"

namespace semfield {
namespace {

// A teacher that counts its runs: two scales, the mean colour and the image's red channel pooled.
class CountingTeacher final : public Teacher {
 public:
  explicit CountingTeacher(int* runs) : m_runs(runs) {}
  std::string spec() const override { return "dino:counting"; }
  TeacherOutputKind output_kind() const override { return TeacherOutputKind::Features; }
  std::vector<int64_t> channels() const override { return {3, 1}; }
  std::vector<std::pair<int64_t, int64_t>> map_sizes(int64_t h, int64_t w) const override {
    return {{h / 2, w / 2}, {h / 4, w / 4}};
  }
  bool runs_on_images() const override { return true; }
  std::vector<at::Tensor> compute(const TeacherInput& input) const override {
    ++*m_runs;
    const at::Tensor x = input.rgb.permute({2, 0, 1}).unsqueeze(0);
    return {at::avg_pool2d(x, 2).squeeze(0), at::avg_pool2d(x.narrow(1, 0, 1), 4).squeeze(0)};
  }

 private:
  int* m_runs;
};

TEST(TeacherCache, ReadsBackWhatItComputedAndRecomputesDamagedEntries) {
  test::TempDir dir;
  const std::filesystem::path weights = dir / "weights.bin";
  std::ofstream(weights) << "model v1";
  int runs = 0;
  const at::Tensor a = at::rand({16, 16, 3}), b = at::rand({16, 16, 3});
  std::vector<at::Tensor> first;
  {
    CachedTeacher teacher(std::make_unique<CountingTeacher>(&runs), dir / "cache", weights);
    first = teacher.compute({a, nullptr});
    const std::vector<at::Tensor> again = teacher.compute({a.clone(), nullptr});
    EXPECT_EQ(runs, 1);
    ASSERT_EQ(again.size(), 2u);
    for (size_t s = 0; s < 2; ++s) EXPECT_TRUE(at::equal(first[s], again[s]));
    (void)teacher.compute({b, nullptr});
    EXPECT_EQ(runs, 2);
    EXPECT_EQ(teacher.hits(), 1);
    EXPECT_EQ(teacher.misses(), 2);
  }
  {
    // A new process (new wrapper) reads the same entries.
    CachedTeacher teacher(std::make_unique<CountingTeacher>(&runs), dir / "cache", weights);
    (void)teacher.compute({a, nullptr});
    EXPECT_EQ(runs, 2);
  }
  // Damaged entries are recomputed and replaced.
  for (const auto& entry : std::filesystem::directory_iterator(dir / "cache"))
    std::ofstream(entry.path(), std::ios::trunc) << "garbage";
  {
    CachedTeacher teacher(std::make_unique<CountingTeacher>(&runs), dir / "cache", weights);
    const std::vector<at::Tensor> redone = teacher.compute({a, nullptr});
    EXPECT_EQ(runs, 3);
    EXPECT_TRUE(at::equal(redone[0], first[0]));
    (void)teacher.compute({a, nullptr});
    EXPECT_EQ(runs, 3);
  }
  // Another checkpoint (size changes) gives other keys.
  std::ofstream(weights, std::ios::trunc) << "model v2, retrained";
  {
    CachedTeacher teacher(std::make_unique<CountingTeacher>(&runs), dir / "cache", weights);
    (void)teacher.compute({a, nullptr});
    EXPECT_EQ(runs, 4);
  }
}

}  // namespace
}  // namespace semfield
