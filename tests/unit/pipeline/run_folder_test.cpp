// Run-folder helpers: view lookup by name and split:index, background parsing, run spec round trip.
#include "semfield/pipeline/run_folder.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "support/test_support.h"

using namespace semfield;
using ::testing::HasSubstr;

namespace {

std::vector<CameraRecord> cameras() {
  std::vector<CameraRecord> c(4);
  c[0] = {"r_0", Split::Train, {}};
  c[1] = {"r_1", Split::Train, {}};
  c[2] = {"r_70", Split::Test, {}};
  c[3] = {"r_71", Split::Test, {}};
  return c;
}

std::string usage_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "<no error>";
}

TEST(RunFolder, FindCameraByStemAndSplitIndex) {
  const auto c = cameras();
  EXPECT_EQ(find_camera(c, "r_1").name, "r_1");
  EXPECT_EQ(find_camera(c, "test:1").name, "r_71");
  EXPECT_EQ(find_camera(c, "train:0").name, "r_0");
  EXPECT_THAT(usage_error([&] { find_camera(c, "r_9"); }), HasSubstr("unknown view 'r_9'"));
  EXPECT_THAT(usage_error([&] { find_camera(c, "test:2"); }), HasSubstr("has only 2 views"));
  EXPECT_THAT(usage_error([&] { find_camera(c, "test:x"); }), HasSubstr("bad index"));
}

TEST(RunFolder, ParseBackground) {
  EXPECT_EQ(parse_background("white"), Eigen::Vector3f::Ones());
  EXPECT_EQ(parse_background("black"), Eigen::Vector3f::Zero());
  EXPECT_EQ(parse_background("0.5,0.25,1"), Eigen::Vector3f(0.5f, 0.25f, 1.0f));
  EXPECT_THROW(parse_background("0.5,2,1"), UsageError);
  EXPECT_THROW(parse_background("grey"), UsageError);
  EXPECT_THROW(parse_background("0.5,0.5"), UsageError);
}

TEST(RunFolder, RunSpecRoundTripAndErrors) {
  test::TempDir dir;
  const RunPaths run{dir.path()};
  RunSpec spec;
  spec.data = "/some/data";
  spec.downscale = 2;
  spec.config.train.steps = 77;
  write_run_spec(run, spec);
  const RunSpec back = read_run_spec(run);
  EXPECT_EQ(back.data, spec.data);
  EXPECT_EQ(back.downscale, 2);
  EXPECT_EQ(back.config.train.steps, 77);
  test::write_text(run.config(), "{\"data\": 3}");
  EXPECT_THROW(read_run_spec(run), InputError);
}

TEST(RunFolder, LoadRunErrors) {
  test::TempDir dir;
  EXPECT_THAT([&] { load_run(dir / "missing"); },
              ::testing::ThrowsMessage<InputError>(HasSubstr("run folder not found")));
  EXPECT_THAT([&] { load_run(dir.path()); }, ::testing::ThrowsMessage<InputError>(HasSubstr("no checkpoint")));
}

}  // namespace
