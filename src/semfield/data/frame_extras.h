// Per-view extras (depth, mask, instance and semantic maps): loading, checking and downscaling.
#pragma once

#include "semfield/data/parsed_scene.h"
#include "semfield/data/scene.h"

namespace semfield {

/// Throws InputError naming the frame's source file and the key (e.g. "frames[3].mask_path") when an
/// extra the frame declares does not exist.
void check_extras_exist(const FrameRecord& frame);

/// Loads the frame's extras into `view`. Each must be `width` x `height` (the full-resolution image;
/// InputError naming the file and key otherwise) and is then downscaled by `factor` with
/// downscale_nearest: ids and mask bits must not be averaged, and neither must depth — a box average
/// across an occlusion edge invents a surface between foreground and background, and averaging with 0
/// ("unknown") pixels biases depth towards the camera; nearest keeps every value a real measurement.
///  - depth (16-bit PNG or .npy [H,W] / [H,W,1]): value * `depth_to_scene` (file unit -> normalised
///    scene units); non-finite .npy values become 0 (unknown); negative values are an InputError;
///  - mask (PNG): first channel, nonzero -> 1, else 0;
///  - instance / semantic (8/16-bit single-channel PNG): raw ids.
/// `full_depth`, when given, also receives the depth map at full resolution (bounds inference samples it).
void load_extras(const FrameRecord& frame, int width, int height, int factor, double depth_to_scene, View* view,
                 Image* full_depth = nullptr);

/// The frame's depth map at full resolution, read and checked as load_extras does (InputError otherwise).
Image read_depth_map(const FrameRecord& frame, int width, int height, double depth_to_scene);

/// Decodes every extra the frame declares with load_extras' checks but keeps no pixels; each file that is
/// missing or fails is appended to `problems` (one entry per file) instead of throwing. `full_depth`, when
/// given and the depth map is usable, receives it at full resolution.
void verify_extras(const FrameRecord& frame, int width, int height, double depth_to_scene,
                   std::vector<FileProblem>* problems, Image* full_depth = nullptr);

}  // namespace semfield
