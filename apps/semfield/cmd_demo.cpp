// `semfield demo`: placeholder until its implementation lands.
#include "commands.h"

namespace semfield::cli {

void add_demo_command(CLI::App& app) {
  app.add_subcommand("demo", "not yet implemented");
}

}  // namespace semfield::cli
