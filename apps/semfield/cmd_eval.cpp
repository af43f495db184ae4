// `semfield eval`: placeholder until its implementation lands.
#include "commands.h"

namespace semfield::cli {

void add_eval_command(CLI::App& app) {
  app.add_subcommand("eval", "not yet implemented");
}

}  // namespace semfield::cli
