// The viewer's request bodies: JSON parsed and validated into cameras, prompts, render modes and session ids.
// Every problem is an InputError whose message names the endpoint and the field ("/api/frame: camera.width:
// ..."); the server answers it with 400 and that message.
#pragma once

#include <string>

#include "semfield/core/json_reader.h"
#include "semfield/geometry/camera.h"
#include "semfield/segment/prompts.h"

namespace semfield {

/// Bounds on what a request may ask for (sizes in pixels).
struct ViewLimits {
  int min_side = 8;
  int max_side = 1024;
  int max_points = 64;              ///< positive + negative clicks per request
  double max_coordinate = 1e4;      ///< |camera position| in normalised scene units
  size_t max_text_length = 200;     ///< characters of a text query
};

enum class RenderMode { Rgb, Depth, Pca, Labels, Relevancy };

/// "rgb" | "depth" | "pca" | "labels" | "relevancy"; the inverse of render_mode_name.
RenderMode parse_render_mode(const JsonNode& node);
const char* render_mode_name(RenderMode mode);

/// Parses a request body; malformed JSON, or a body that is not a JSON object, throws InputError naming the
/// endpoint (and line/column).
JsonNode parse_request_body(const std::string& body, const std::string& endpoint);

/// A viewer camera: {"c2w": 16 numbers (row-major 4x4, or nested 4x4 / 3x4), "focal": fx / width (> 0),
/// "width": W, "height": H}. The pose is camera-to-world in OpenGL axes (geometry/camera.h), normalised scene
/// coordinates; its rotation must be orthonormal (within 1e-3) and its position within max_coordinate. The
/// result is a pinhole camera with fx = fy = focal * W and the principal point at the image centre.
Camera parse_view_camera(const JsonNode& node, const ViewLimits& limits = {});
/// The inverse, for the dataset camera list the page jumps to (focal = fx / width; c2w row-major).
nlohmann::json view_camera_json(const Camera& camera);

/// {"positive": [[x, y], ...], "negative": [[x, y], ...], "box": [x0, y0, x1, y1] | null} in the pixels of a
/// width x height view (prompts.h conventions). Points outside the view, an inverted box, more than
/// max_points clicks, or no positive click and no box -> InputError naming the field.
Prompts parse_prompts(const JsonNode& node, int width, int height, const ViewLimits& limits = {});

/// A session id: 1..64 characters of [A-Za-z0-9_-] (the page makes a random one per tab).
std::string parse_session_id(const JsonNode& node);
/// Whether text is a valid session id (the same rule, for ids in query strings).
bool valid_session_id(const std::string& text);

/// A text query phrase: a non-blank string of at most max_text_length characters.
std::string parse_query_text(const JsonNode& node, const ViewLimits& limits = {});

}  // namespace semfield
