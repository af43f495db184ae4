// `semfield synth`: generates procedural tabletop scenes with exact ground truth (see synth_writer.h), or with
// --category datasets of one object category with parts and keypoints (see object_dataset.h).
#include <cstdio>

#include <fmt/format.h>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/data/synth/object_dataset.h"
#include "semfield/data/synth/synth_writer.h"

namespace semfield::cli {

void add_synth_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "synth", "Generate synthetic tabletop scenes (NeRF-synthetic layout + depth/instance/semantic ground truth), "
               "or with --category a dataset of object instances with part maps and keypoints");
  auto config = std::make_shared<SynthConfig>();
  auto out = std::make_shared<std::string>();
  auto category = std::make_shared<std::string>();
  auto instances = std::make_shared<int>(20);
  cmd->add_option("--out", *out, "Output folder (one scene, or scene_000.. with --scenes > 1)")->required();
  auto* preset = cmd->add_option("--preset", config->preset, "Scene family: tabletop, or open (ground to 5 units, cameras at 6: content beyond the default box)")->capture_default_str();
  auto* objects = cmd->add_option("--objects", config->n_objects, "Objects on the table, 1..20 (the maximum with --vary)")->capture_default_str();
  auto* views = cmd->add_option("--views", config->n_views, "Training views; test views = max(4, views/5) (default 50 with --category)")
      ->capture_default_str();
  cmd->add_option("--res", config->resolution, "Image width and height in pixels, 8..4096")->capture_default_str();
  auto* height = cmd->add_option("--height", config->height,
                                 "Image height in pixels, 8..4096, when it differs from --res (the width): "
                                 "3840 with --height 2160 is a 4K capture");
  cmd->add_option("--seed", config->seed, "Random seed; the same seed gives byte-identical files")
      ->capture_default_str();
  auto* scenes = cmd->add_option("--scenes", config->n_scenes, "Number of scenes; scene k uses seed + k")->capture_default_str();
  auto* vary = cmd->add_flag("--vary", config->vary,
                "Vary each scene's object count (--objects is the maximum), camera distance and elevations and "
                "lighting: corpora for generalizable models");
  auto* style = cmd->add_option("--style", config->style,
                  "Rendering style, same scene for the same seed: lambert (every corpus), or studio (a second "
                  "renderer to check models on: gamma-correct light, soft shadows, a fill light, highlights)")
      ->capture_default_str();
  auto* novel = cmd->add_flag("--novel-shapes", config->novel_shapes,
                              "About half the objects are shapes no corpus has (capsule, lamp, hoop, tower, rocket; "
                              "class ids 10..14): for checking generalizable models on unseen shapes");
  cmd->add_option("--category", *category,
                  "Write a category dataset instead of tabletop scenes: chair, table, mug, lamp or airplane "
                  "(out/instance_000..; parts, keypoints, same cameras for every instance)");
  cmd->add_option("--instances", *instances, "With --category: number of instances; instance k uses seed + k")
      ->capture_default_str();
  cmd->callback([config, out, category, instances, cmd, preset, objects, views, scenes, vary, height, style, novel] {
    if (category->empty()) {
      if (cmd->count("--instances") > 0) fail_usage("synth: --instances needs --category");
      write_synth_dataset(*config, *out, [](const SynthSummary& s) {
        std::printf("%s\n", fmt::format("{}: seed {}, {} objects ({}), {} train + {} test views at {}x{}, {:.2f} s",
                                        s.dir.string(), s.seed, s.n_objects, fmt::join(s.object_names, ", "),
                                        s.n_train, s.n_test, s.resolution, s.height, s.seconds)
                                .c_str());
        std::fflush(stdout);
      });
      return;
    }
    for (const CLI::Option* option : {preset, objects, scenes, vary, height, novel})
      if (option->count() > 0)
        fail_usage(
            "synth: {} does not apply to --category datasets (use --instances, --views, --res, --seed, --style)",
            option->get_name());
    ObjectDatasetConfig object_config;
    object_config.category = synth::parse_category(*category);
    object_config.n_instances = *instances;
    if (views->count() > 0) object_config.n_views = config->n_views;
    object_config.resolution = config->resolution;
    object_config.seed = config->seed;
    object_config.style = config->style;
    write_object_dataset(object_config, *out, [](const ObjectInstanceSummary& s) {
      std::printf("%s\n", fmt::format("{}: seed {}, {} primitives, {} keypoints ({:.1f} visible per view), {} train + "
                                      "{} test views at {}x{}, {:.2f} s",
                                      s.dir.string(), s.seed, s.n_primitives, s.n_keypoints, s.mean_visible, s.n_train,
                                      s.n_test, s.resolution, s.resolution, s.seconds)
                              .c_str());
      std::fflush(stdout);
    });
  });
}

}  // namespace semfield::cli
