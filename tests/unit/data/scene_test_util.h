// Helpers for the scene loader tests: tiny images and JSON poses written on the fly, captured log
// warnings, and the message of an expected InputError.
#pragma once

#include <functional>
#include <memory>
#include <sstream>
#include <string>

#include <Eigen/Core>
#include <fmt/format.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include "semfield/core/error.h"
#include "semfield/io/image.h"

namespace semfield::test {

/// Writes an 8-bit PNG of the given size whose pixel (x, y) has red x/255, green y/255, blue 0.5 and
/// (RGBA) alpha 1, except alpha 0 at (0, 0).
inline void write_test_png(const std::filesystem::path& path, int width, int height, int channels = 3) {
  Image image(width, height, channels);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      image.at(x, y, 0) = static_cast<float>(x) / 255.0f;
      if (channels >= 3) {
        image.at(x, y, 1) = static_cast<float>(y) / 255.0f;
        image.at(x, y, 2) = 128.0f / 255.0f;
      }
      if (channels == 4) image.at(x, y, 3) = (x == 0 && y == 0) ? 0.0f : 1.0f;
    }
  }
  std::filesystem::create_directories(path.parent_path());
  write_png(path, image, 8);
}

/// A row-major JSON 4x4 matrix.
inline std::string matrix_json(const Eigen::Matrix4d& m) {
  std::string out = "[";
  for (int r = 0; r < 4; ++r) {
    out += r ? ",[" : "[";
    for (int c = 0; c < 4; ++c) out += fmt::format("{}{:.17g}", c ? "," : "", m(r, c));
    out += "]";
  }
  return out + "]";
}

/// A camera-to-world pose: identity rotation, the given position.
inline Eigen::Matrix4d translation(double x, double y, double z) {
  Eigen::Matrix4d m = Eigen::Matrix4d::Identity();
  m.block<3, 1>(0, 3) << x, y, z;
  return m;
}

/// The message of the InputError `f` throws, or "<no InputError>".
inline std::string input_error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  }
  return "<no InputError>";
}

/// Collects what the default spdlog logger prints while alive.
class LogCapture {
 public:
  LogCapture() : m_sink(std::make_shared<spdlog::sinks::ostream_sink_mt>(m_stream)) {
    spdlog::default_logger()->sinks().push_back(m_sink);
  }
  ~LogCapture() {
    auto& sinks = spdlog::default_logger()->sinks();
    sinks.erase(std::remove(sinks.begin(), sinks.end(), m_sink), sinks.end());
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  std::string text() const { return m_stream.str(); }

 private:
  std::ostringstream m_stream;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> m_sink;
};

}  // namespace semfield::test
