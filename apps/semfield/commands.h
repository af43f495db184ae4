// Registration of the CLI's subcommands; each lives in its own cmd_<name>.cpp and only calls the library.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace semfield::cli {

// Each adds one subcommand to `app`, with its options and a callback that runs it.
// Callbacks throw semfield::Error on bad input; main() turns that into "error: ..." and exit code 1.
void add_info_command(CLI::App& app);
void add_synth_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_render_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_teacher_command(CLI::App& app);
void add_distill_command(CLI::App& app);
void add_segment_command(CLI::App& app);
void add_query_command(CLI::App& app);
void add_transfer_command(CLI::App& app);
void add_eval_transfer_command(CLI::App& app);
void add_mesh_command(CLI::App& app);
void add_serve_command(CLI::App& app);
void add_models_command(CLI::App& app);
void add_apply_command(CLI::App& app);
void add_train_corpus_command(CLI::App& app);
void add_simulate_segmenter_command(CLI::App& app);
void add_simulate_clip_command(CLI::App& app);
void add_label_points_command(CLI::App& app);

/// The process's argv (main.cpp): what a launcher re-runs its workers with.
const std::vector<std::string>& command_line();
/// The shipped models' folder: $SEMFIELD_MODELS, else the repository's models/ (cmd_models.cpp).
std::filesystem::path default_models_dir();

}  // namespace semfield::cli
