// Terminal progress bar.
#include "semfield/core/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace semfield {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const auto s = static_cast<int64_t>(seconds + 0.5);
  if (s >= 3600) return fmt::format("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60);
  return fmt::format("{}:{:02}", s / 60, s % 60);
}

ProgressBar::ProgressBar(std::string label, int64_t total, std::string unit)
    : m_label(std::move(label)), m_unit(std::move(unit)), m_total(std::max<int64_t>(total, 1)),
      m_tty(::isatty(STDERR_FILENO) != 0), m_start(std::chrono::steady_clock::now()),
      m_last_draw(m_start) {}

ProgressBar::~ProgressBar() { finish(m_extra); }

double ProgressBar::elapsed_seconds() const {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - m_start).count();
}

void ProgressBar::update(int64_t done, const std::string& extra, double fraction) {
  m_done = std::min(done, m_total);
  m_extra = extra;
  m_fraction = fraction >= 0 ? std::min(fraction, 1.0) : -1.0;
  draw(false);
}

void ProgressBar::finish(const std::string& extra) {
  if (m_finished) return;
  if (!extra.empty()) m_extra = extra;
  draw(true);
  if (m_tty) std::fputc('\n', stderr);
  m_finished = true;
}

void ProgressBar::draw(bool force) {
  const auto now = std::chrono::steady_clock::now();
  const double since = std::chrono::duration<double>(now - m_last_draw).count();
  const double fraction =
      m_fraction >= 0 ? m_fraction : static_cast<double>(m_done) / static_cast<double>(m_total);
  const int decile = static_cast<int>(10 * fraction);
  if (!force) {
    if (m_tty && since < 0.1) return;
    if (!m_tty && decile == m_last_decile) return;
  } else if (!m_tty && m_drawn_done == m_done && m_drawn_extra == m_extra) {
    return;  // a log file already has this exact line
  }
  m_drawn_done = m_done;
  m_drawn_extra = m_extra;
  m_last_draw = now;
  m_last_decile = decile;
  const double elapsed = elapsed_seconds();
  const double rate = elapsed > 0 ? static_cast<double>(m_done) / elapsed : 0.0;
  const double eta = fraction > 0 ? elapsed * (1.0 - fraction) / fraction : NAN;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(kWidth * fraction);
  const std::string bar = std::string(static_cast<size_t>(filled), '#') +
                          std::string(static_cast<size_t>(kWidth - filled), '.');
  const std::string line =
      fmt::format("{} [{}] {}/{} {:.1f} {}/s elapsed {} ETA {}{}{}", m_label, bar, m_done,
                  m_fraction >= 0 ? std::string("~") : std::to_string(m_total), rate,
                  m_unit, format_duration(elapsed), format_duration(eta), m_extra.empty() ? "" : " | ",
                  m_extra);
  if (m_tty)
    std::fprintf(stderr, "\r%s\033[K", line.c_str());
  else
    std::fprintf(stderr, "%s\n", line.c_str());
  std::fflush(stderr);
}

}  // namespace semfield
