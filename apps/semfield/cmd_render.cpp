// `semfield render`: placeholder until its implementation lands.
#include "commands.h"

namespace semfield::cli {

void add_render_command(CLI::App& app) {
  app.add_subcommand("render", "not yet implemented");
}

}  // namespace semfield::cli
