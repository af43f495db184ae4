// The simulated DINO teacher: a measuring instrument standing in for DINO ViT-S/8 where no real weights can be
// downloaded (docs/teachers.md, "Simulated DINO"). It is built from a rendered view's ground truth (part ids and the
// canonical coordinate of the surface at every pixel) and has the properties of DINO's features that FeatureNeRF's
// results depend on:
//  - resolution: one feature per 4 x 4 pixels (DINO ViT-S/8 on the image upsampled x2: a 128^2 image -> 32 x 32),
//    each the mean over its cell's foreground pixels, so part boundaries blur inside a cell;
//  - zero on the background (the authors' code zeroes cells whose nearest-resized alpha is 0);
//  - semantic, not geometric: a feature is a part's code plus a smooth code of the canonical position, so points of
//    the same part at the same place of two instances agree, but only approximately:
//  - appearance leaks in: a code of the pixel's colour (DINO's features change with texture and colour, so two
//    instances' same part in different materials differ, and different parts in one material look alike);
//  - instance-specific deviations: per instance, a random offset of every part's code and a smooth random field over
//    canonical space (two chairs' "seat" features differ; the same chair's agree across its views);
//  - pixel noise that differs from view to view (DINO's features are not multi-view consistent);
//  - left/right confusion of symmetric parts: the position code sees |x| (x = the canonical left/right axis) with
//    weight `symmetry` (1: left and right legs are indistinguishable, as DINO's are in practice).
// Deterministic: the same inputs, keys and options give the same map on every platform.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace semfield {

struct SimulatedDinoOptions {
  int64_t dim = 64;             ///< feature channels (DINO ViT-S: 384; fewer keep the student's head small)
  int64_t stride = 4;           ///< image pixels per feature cell along each axis
  // Calibrated on generated chairs (docs/teachers.md): with these weights the teacher's own 2D part co-segmentation of
  // unseen instances (same camera) scores 0.60 mIoU, the paper's DINO baseline on ShapeNet chairs 0.62.
  double part_weight = 0.35;       ///< norm scale of the part codes
  double position_weight = 0.8;    ///< norm scale of the canonical-position code
  double appearance_weight = 0.9;  ///< norm scale of the colour code (needs the image)
  double instance_noise = 0.9;     ///< relative size of the per-instance deviations (part offsets + smooth field)
  double pixel_noise = 0.45;       ///< relative size of the per-view, per-cell noise
  double symmetry = 1.0;        ///< weight of |x| against x in the position code: left/right confusion
  /// Multiplier of the whole map; 0 (the default) = simulated_dino_auto_scale: a per-channel RMS of ~1, the order of
  /// DINO's keys, which the paper's lambda_distill = 0.25 was set against. It changes nothing the features' cosine
  /// similarities measure, only their magnitude, and with it the distillation loss's share of a training loss with
  /// fixed weights (docs/teachers.md). FeatureNeRF models trained before 2026-11-25 used 1 (RMS 0.18 at 64 channels).
  double scale = 0.0;
  uint64_t seed = 0x0D1A0D1Aull;  ///< the teacher's own random codes (fixed: every instance shares them)
};

/// The simulated teacher's map of one view: part_ids [H,W] (int64; <= 0 background), canonical [H,W,3] float (the
/// surface point of each pixel in the object's canonical frame; ignored on the background), an instance key (the
/// same for every view of one object), a view key, and the image [3,H,W] in [0,1] (for the appearance code; may be
/// undefined when appearance_weight is 0) -> [dim, ceil(H/stride), ceil(W/stride)] float32, zero on background cells
/// (those whose centre pixel is background).
at::Tensor simulated_dino_map(const at::Tensor& part_ids, const at::Tensor& canonical, uint64_t instance_key,
                              uint64_t view_key, const SimulatedDinoOptions& options = {},
                              const at::Tensor& image = {});

/// The multiplier `scale` = 0 stands for: sqrt(dim / E||f||^2), where E||f||^2 is the sum of the squared weights of
/// the map's independent unit-norm codes (part, position, appearance, the instance deviations, the pixel noise), so
/// that the foreground's per-channel RMS is ~1 at any dim (measured 0.98 at 64 channels).
double simulated_dino_auto_scale(const SimulatedDinoOptions& options);

/// A stable key of a name (FNV-1a): instance keys from scene folder names.
uint64_t simulated_teacher_key(const std::string& name);

}  // namespace semfield
