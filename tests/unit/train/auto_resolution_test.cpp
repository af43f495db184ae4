// The feature grid's automatic finest resolution: half a cell per teacher-map pixel, within bounds.
#include <gtest/gtest.h>

#include "semfield/train/feature_trainer.h"

namespace semfield {
namespace {

TEST(AutoFinestResolution, HalfACellPerMapPixelWithinBounds) {
  EXPECT_EQ(auto_finest_resolution({{96, 96}}, 16), 48);              // labels of 96-pixel views
  EXPECT_EQ(auto_finest_resolution({{64, 64}, {128, 97}}, 16), 64);   // the largest scale decides
  EXPECT_EQ(auto_finest_resolution({{801, 800}}, 16), 401);           // rounded up
  EXPECT_EQ(auto_finest_resolution({{16, 16}}, 16), 32);              // never coarser than 32 ...
  EXPECT_EQ(auto_finest_resolution({{16, 16}}, 40), 40);              // ... or the base level
  EXPECT_EQ(auto_finest_resolution({{6000, 8000}}, 16), 2048);        // nor finer than 2048
}

}  // namespace
}  // namespace semfield
