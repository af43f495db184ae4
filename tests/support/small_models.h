// Configurations of small, untrained models for unit tests of code that needs a model to exist (tiny hash
// tables and occupancy grid: built in milliseconds). Header-only: only the LibTorch-side test modules use it.
#pragma once

#include <cstdint>
#include <vector>

#include "semfield/fields/feature_field.h"
#include "semfield/data/synth/synth_scene.h"
#include "semfield/models/featurenerf/featurenerf_config.h"
#include "semfield/models/gpnerf/gpnerf_config.h"
#include "semfield/models/ibr/ibr_config.h"
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

/// An image-conditioned (IBR) model's config of width 8-16, 8 coarse + 4 fine samples and 3 source views.
inline IbrConfig small_ibr_config() {
  IbrConfig c;
  c.encoder.base_channels = 8;
  c.encoder.out_channels = 8;
  c.view_hidden = 16;
  c.view_features = 8;
  c.point_features = 8;
  c.n_coarse = 8;
  c.n_fine = 4;
  c.source_views = 3;
  return c;
}

/// A GP-NeRF config of width 8 (2 layers, 2 heads, 16-d semantics), 8 + 8 samples, 4 source views, the generator's
/// classes.
inline GpnerfConfig small_gpnerf_config() {
  GpnerfConfig c;
  c.extractor.backbone = {3, 8, 8};
  c.extractor.pyramid_channels = 8;
  c.extractor.semantic_channels = 16;
  c.width = 8;
  c.layers = 2;
  c.heads = 2;
  c.ff_hidden = 16;
  c.head_channels = 8;
  c.n_coarse = 8;
  c.n_fine = 8;
  c.source_views = 4;
  c.classes = synth_class_names();
  return c;
}

/// A FeatureNeRF config of width 16 (encoder 8 channels per stage, 24-d v_NeRF, 6-d teacher head), 8 + 4 samples.
inline FeatureNerfConfig small_featurenerf_config() {
  FeatureNerfConfig c;
  c.encoder.channels = {8, 8, 8, 8};
  c.encoder.blocks = {1, 1, 1};
  c.width = 16;
  c.feature_dim = 24;
  c.pe_frequencies = 2;
  c.n_coarse = 8;
  c.n_fine = 4;
  c.rays = 128;  // the tests' own size, not the default's
  c.teacher_dim = c.simulated.dim = 6;
  return c;
}

}  // namespace semfield::test
