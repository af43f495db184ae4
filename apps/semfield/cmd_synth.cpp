// `semfield synth`: placeholder until its implementation lands.
#include "commands.h"

namespace semfield::cli {

void add_synth_command(CLI::App& app) {
  app.add_subcommand("synth", "not yet implemented");
}

}  // namespace semfield::cli
