// Configurations of small, untrained models for unit tests of code that needs a model to exist (tiny hash
// tables and occupancy grid: built in milliseconds). Header-only: only the LibTorch-side test modules use it.
#pragma once

#include <cstdint>
#include <vector>

#include "semfield/fields/feature_field.h"
#include "semfield/models/radiance_config.h"

namespace semfield::test {

/// A radiance model's config with a 2^12-entry hash table and a 16^3 occupancy grid.
inline RadianceConfig small_radiance_config() {
  RadianceConfig config;
  config.field.grid.log2_table_size = 12;
  config.render.grid_resolution = 16;
  return config;
}

/// A feature field's config with a 2^12-entry hash table and one head per entry of `channels`.
inline FeatureFieldConfig small_feature_config(std::vector<int64_t> channels) {
  FeatureFieldConfig config;
  config.grid.log2_table_size = 12;
  config.channels = std::move(channels);
  return config;
}

}  // namespace semfield::test
