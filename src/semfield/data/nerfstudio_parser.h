// nerfstudio transforms.json scene parser.
#pragma once

#include "semfield/core/json_reader.h"
#include "semfield/data/parsed_scene.h"

namespace semfield {

/// Parses a nerfstudio transforms.json (already read into `doc`; paths are relative to its folder).
///  - camera_model PINHOLE | OPENCV | OPENCV_FISHEYE (default OPENCV, as nerfstudio), per frame or top
///    level, with fl_x fl_y cx cy w h k1..k4 p1 p2 likewise (read_transforms_intrinsics);
///  - frames are sorted by file_path (as nerfstudio does) so every:N / fraction:F splits are stable;
///  - train_filenames / val_filenames / test_filenames, when present, assign splits (frames in none of
///    them are dropped; a listed name that is no frame is an InputError), else Auto = fraction:0.9;
///  - applied_transform (3x4) is validated but not applied: nerfstudio stores it as the transform
///    *already applied* to the saved poses (original data -> saved coordinates), kept so points from
///    the original reconstruction can be brought into the saved frame;
///  - Framing is RealCapture.
ParsedScene parse_nerfstudio(const JsonNode& doc);

}  // namespace semfield
