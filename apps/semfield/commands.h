// Registration of the CLI's subcommands; each lives in its own cmd_<name>.cpp and only calls the library.
#pragma once

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
void add_mesh_command(CLI::App& app);
void add_serve_command(CLI::App& app);

}  // namespace semfield::cli
