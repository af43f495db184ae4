// NeRF-synthetic (transforms_{train,val,test}.json) and instant-ngp (transforms.json) scene parsers.
#pragma once

#include <filesystem>

#include "semfield/core/json_reader.h"
#include "semfield/data/parsed_scene.h"

namespace semfield {

/// Parses a NeRF-synthetic folder: each present transforms_{train,val,test}.json gives its split's
/// frames (file order); at least one must exist. Cameras per read_transforms_intrinsics; file_path is
/// relative to the json, with or without extension. Frames whose image is missing are skipped with a
/// log::warn; a split file left with no frame is an InputError. Framing is UnitCube with instant-ngp's
/// "scale" (0.33), "offset" ([0.5,0.5,0.5]) and "aabb_scale" (none: load_scene infers it) keys, read from
/// the first file present (train, val, test order). A scene.json beside them (written by `semfield synth`)
/// marks the format "semfield-synth".
ParsedScene parse_blender(const std::filesystem::path& folder);

/// Parses an instant-ngp transforms.json (already read into `doc`): the same keys as above, one file,
/// no splits of its own (Auto = fraction:0.9 as nerfstudio does).
ParsedScene parse_instant_ngp(const JsonNode& doc);

/// The transforms.json flavours, told apart by nerfstudio-only keys (camera_model, applied_transform,
/// ply_file_path).
bool is_nerfstudio_transforms(const JsonNode& doc);

}  // namespace semfield
