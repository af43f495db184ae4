// `semfield info`: placeholder until its implementation lands.
#include "commands.h"

namespace semfield::cli {

void add_info_command(CLI::App& app) {
  app.add_subcommand("info", "not yet implemented");
}

}  // namespace semfield::cli
