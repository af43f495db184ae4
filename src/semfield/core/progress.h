// A terminal progress bar with rate and ETA, for long work (training, rendering, scene generation).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace semfield {

/// Draws `label [#####.....] 40/100 12.3 it/s ETA 0:05 | extra` on stderr, at most ~10 times a second.
/// On a non-terminal stderr it prints a plain line every ~10 % instead, so CI logs stay readable.
class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total, std::string unit = "it");
  ~ProgressBar();
  /// Advances to `done` units; `extra` is shown after the bar (e.g. "loss 0.012 psnr 27.1").
  /// `fraction` in [0,1], when given, sets the bar fill and ETA instead of done/total (for work bounded by
  /// a time budget as well as a unit count).
  void update(int64_t done, const std::string& extra = "", double fraction = -1.0);
  /// Redraws a final line (keeping the last extra text unless a new one is given) and moves to a new
  /// line; idempotent.
  void finish(const std::string& extra = "");
  double elapsed_seconds() const;

 private:
  void draw(bool force);
  std::string m_label, m_unit, m_extra;
  int64_t m_total, m_done = 0;
  double m_fraction = -1.0;
  int m_last_decile = -1;
  int64_t m_drawn_done = -1;
  std::string m_drawn_extra;
  bool m_tty, m_finished = false;
  std::chrono::steady_clock::time_point m_start, m_last_draw;
};

/// Formats seconds as H:MM:SS or M:SS.
std::string format_duration(double seconds);

/// Wall-clock seconds since `start` (steady clock).
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace semfield
