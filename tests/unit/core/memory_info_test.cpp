// Available memory and the projection that stops a corpus too large for the machine before it is loaded.
#include "semfield/core/memory_info.h"

#include <cstdlib>

#include <gtest/gtest.h>

#include "support/test_support.h"

namespace semfield {
namespace {

TEST(MemoryInfo, ParsesMemAvailableInKilobytes) {
  const std::string meminfo =
      "MemTotal:       24684136 kB\nMemFree:        20000000 kB\nMemAvailable:   23841500 kB\nBuffers: 1 kB\n";
  ASSERT_TRUE(parse_meminfo_available(meminfo).has_value());
  EXPECT_EQ(*parse_meminfo_available(meminfo), 23841500ull * 1024ull);
  EXPECT_FALSE(parse_meminfo_available("MemTotal: 10 kB\nMemFree: 5 kB\n").has_value());  // kernels before 3.14
  EXPECT_FALSE(parse_meminfo_available("MemAvailable: lots\n").has_value());
  EXPECT_FALSE(parse_meminfo_available("MemAvailable: 10 MB\n").has_value());
  EXPECT_FALSE(parse_meminfo_available("").has_value());
}

TEST(MemoryInfo, ReadsThisMachineAndTheOverride) {
  test::ScopedEnv memory("SEMFIELD_AVAILABLE_MEMORY", std::nullopt);
  const auto available = available_memory_bytes();
  ASSERT_TRUE(available.has_value());  // Linux with /proc: the machines this project runs on
  EXPECT_GT(*available, 100'000'000u);  // a machine that runs the tests has more than 100 MB free
  memory.set("123456");
  EXPECT_EQ(available_memory_bytes(), std::optional<uint64_t>(123456u));
  memory.set("12x");  // not a number: the machine's own figure
  const auto fallback = available_memory_bytes();
  ASSERT_TRUE(fallback.has_value());
  EXPECT_GT(*fallback, 100'000'000u);
}

TEST(MemoryInfo, ProjectsTheRestAtTheRateOfTheFirst) {
  // 8 of 900 scenes took 216 MB (27 MB each): the other 892 need 24.084 GB.
  const MemoryProjection big = project_memory(216'000'000, 8, 900, 23'000'000'000);
  EXPECT_EQ(big.needed, 24'084'000'000u);
  EXPECT_TRUE(big.exceeds());
  EXPECT_TRUE(big.tight());
  const MemoryProjection fits = project_memory(216'000'000, 8, 400, 23'000'000'000);  // 10.584 GB: 46 %
  EXPECT_FALSE(fits.exceeds());
  EXPECT_FALSE(fits.tight());
  const MemoryProjection close = project_memory(216'000'000, 8, 750, 23'000'000'000);  // 20.034 GB: 87 %
  EXPECT_FALSE(close.exceeds());
  EXPECT_TRUE(close.tight());
  EXPECT_EQ(project_memory(100, 0, 10, 50).needed, 0u);  // nothing measured yet
  EXPECT_EQ(project_memory(100, 10, 10, 50).needed, 0u);  // everything loaded already
  EXPECT_EQ(format_memory(24'084'000'000), "24.1 GB");
  EXPECT_EQ(format_memory(123'456), "0.1 MB");
}

}  // namespace
}  // namespace semfield
