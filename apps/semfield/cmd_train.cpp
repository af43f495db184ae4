// `semfield train`: placeholder until its implementation lands.
#include "commands.h"

namespace semfield::cli {

void add_train_command(CLI::App& app) {
  app.add_subcommand("train", "not yet implemented");
}

}  // namespace semfield::cli
