// The shared training loop.
#include "semfield/train/training_loop.h"

#include <algorithm>
#include <cmath>

#include "semfield/core/log.h"

namespace semfield {

TrainingLoop::TrainingLoop(const TrainingLoopOptions& options, const LoopProgress& start,
                           const std::filesystem::path& log_path, bool resume)
    : m_options(options),
      m_progress(start),
      m_first_step(start.step),
      m_start_elapsed(start.elapsed_seconds),
      m_segment_start(std::chrono::steady_clock::now()) {
  if (options.write_log && !log_path.empty())
    m_log.open(log_path, resume ? std::ios::app : std::ios::trunc);
  if (options.show_progress)
    m_bar = std::make_unique<ProgressBar>(options.label, std::max<int64_t>(options.steps - start.step, 1), "step");
  if (options.time_budget > 0 && resume && start.elapsed_seconds >= options.time_budget && start.step < options.steps)
    log::warn("the run's time budget of {:.0f} s is spent ({:.0f} s trained): pass a larger --time-budget to train "
              "further",
              options.time_budget, start.elapsed_seconds);
}

TrainingLoop::~TrainingLoop() = default;

double TrainingLoop::elapsed() const { return m_start_elapsed + seconds_since(m_segment_start) - m_paused; }

bool TrainingLoop::next() {
  if (m_progress.step >= m_options.steps) return false;
  if (m_options.time_budget > 0 && elapsed() >= m_options.time_budget) return false;
  if (m_options.stop_requested && m_options.stop_requested->load()) {
    m_interrupted = true;
    return false;
  }
  return true;
}

double TrainingLoop::fraction() const {
  double t = static_cast<double>(m_progress.step) / static_cast<double>(std::max<int64_t>(m_options.steps, 1));
  if (m_options.time_budget > 0) t = std::max(t, elapsed() / m_options.time_budget);
  return std::min(t, 1.0);
}

double TrainingLoop::exponential_lr(double lr0, double final_fraction) const {
  return lr0 * std::pow(final_fraction, fraction());
}

void TrainingLoop::end_step(const std::string& bar_text, const nlohmann::json& fields) {
  m_progress.step += 1;
  m_progress.elapsed_seconds = elapsed();
  if (m_bar)
    m_bar->update(m_progress.step - m_first_step, bar_text, m_options.time_budget > 0 ? fraction() : -1.0);
  if (m_options.log_interval > 0 &&
      (m_progress.step % m_options.log_interval == 0 || m_progress.step == m_options.steps))
    log(fields);
}

bool TrainingLoop::eval_due() const {
  return m_options.eval_interval > 0 && m_progress.step % m_options.eval_interval == 0;
}

bool TrainingLoop::checkpoint_due() const {
  return m_options.checkpoint_interval > 0 && m_progress.step % m_options.checkpoint_interval == 0;
}

void TrainingLoop::pause(const std::function<void()>& work) {
  const auto start = std::chrono::steady_clock::now();
  work();
  m_paused += seconds_since(start);
}

void TrainingLoop::log(const nlohmann::json& fields) {
  if (!m_log.is_open()) return;
  nlohmann::json line = {{"step", m_progress.step}, {"seconds", m_progress.elapsed_seconds}};
  for (const auto& [key, value] : fields.items()) line[key] = value;
  m_log << line.dump() << "\n" << std::flush;
}

void TrainingLoop::finish() {
  if (m_bar) m_bar->finish();
}

}  // namespace semfield
