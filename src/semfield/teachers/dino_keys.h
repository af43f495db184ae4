// FeatureNeRF's DINO teacher (the authors' process_data/generate_dino_feat.py, re-derived): the keys of one block of
// DINO ViT-S/8 (block 9 of 12 by default, 384 channels) on the image resized to twice its size (bilinear; a 128^2
// image -> 256^2 -> a 32 x 32 map), normalised with the model's mean and std, the CLS token dropped, zero where the
// nearest-resized foreground mask is empty. No L2 normalisation.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

#include "semfield/foundation/dino_model.h"

namespace semfield {

/// rgb [3,H,W] in [0,1], foreground [H,W] (bool or 0/1; undefined = everything) -> [C, 2H/p, 2W/p] float32.
at::Tensor dino_keys_map(const foundation::DinoModel& model, const at::Tensor& rgb, const at::Tensor& foreground,
                         int64_t block = 9);

}  // namespace semfield
