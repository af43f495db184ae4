// `semfield synth`: generates procedural tabletop scenes with exact ground truth (see synth_writer.h).
#include <cstdio>

#include <fmt/format.h>

#include "commands.h"
#include "semfield/data/synth/synth_writer.h"

namespace semfield::cli {

void add_synth_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "synth", "Generate synthetic tabletop scenes (NeRF-synthetic layout + depth/instance/semantic ground truth)");
  auto config = std::make_shared<SynthConfig>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("--out", *out, "Output folder (one scene, or scene_000.. with --scenes > 1)")->required();
  cmd->add_option("--preset", config->preset, "Scene family: tabletop, or open (ground to 5 units, cameras at 6: content beyond the default box)")->capture_default_str();
  cmd->add_option("--objects", config->n_objects, "Objects on the table, 1..20 (the maximum with --vary)")->capture_default_str();
  cmd->add_option("--views", config->n_views, "Training views; test views = max(4, views/5)")
      ->capture_default_str();
  cmd->add_option("--res", config->resolution, "Image width and height in pixels, 8..4096")->capture_default_str();
  cmd->add_option("--seed", config->seed, "Random seed; the same seed gives byte-identical files")
      ->capture_default_str();
  cmd->add_option("--scenes", config->n_scenes, "Number of scenes; scene k uses seed + k")->capture_default_str();
  cmd->add_flag("--vary", config->vary,
                "Vary each scene's object count (--objects is the maximum), camera distance and elevations and "
                "lighting: corpora for generalizable models");
  cmd->callback([config, out] {
    write_synth_dataset(*config, *out, [](const SynthSummary& s) {
      std::printf("%s\n", fmt::format("{}: seed {}, {} objects ({}), {} train + {} test views at {}x{}, {:.2f} s",
                                      s.dir.string(), s.seed, s.n_objects, fmt::join(s.object_names, ", "),
                                      s.n_train, s.n_test, s.resolution, s.resolution, s.seconds)
                              .c_str());
      std::fflush(stdout);
    });
  });
}

}  // namespace semfield::cli
