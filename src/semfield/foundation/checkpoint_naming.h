// Converts the naming variants of supported checkpoints into the reference repositories' state-dict names
// (what WeightSet declares): Hugging Face transformers layouts, training-checkpoint wrappers, extra buffers.
#pragma once

#include <filesystem>

#include "semfield/core/tensor_state.h"

namespace semfield::foundation {

/// SAM: Hugging Face `SamModel` names (vision_encoder.*, mask_embed.*, upscale_conv1, proj_in/proj_out, ...)
/// -> segment-anything names; drops the non-persistent pixel_mean/pixel_std if a checkpoint carries them.
/// Reference-named input passes through unchanged.
TensorMap sam_reference_names(const TensorMap& tensors, const std::filesystem::path& origin);

/// CLIP: Hugging Face `CLIPModel` names -> openai/CLIP names (q/k/v projections packed into in_proj_weight,
/// projection matrices transposed); drops position_ids buffers. Throws InputError for a ResNet image tower
/// (visual.layer1.*), which is not supported.
TensorMap clip_reference_names(const TensorMap& tensors, const std::filesystem::path& origin);

/// DINO: Hugging Face `ViTModel` names -> facebookresearch/dino names (query/key/value packed into qkv); a
/// DINO training checkpoint's "backbone." prefix is stripped and its projection head ("head.*") dropped.
/// Throws InputError for DINOv2 checkpoints (layer scale / register tokens), which are not supported.
TensorMap dino_reference_names(const TensorMap& tensors, const std::filesystem::path& origin);

}  // namespace semfield::foundation
