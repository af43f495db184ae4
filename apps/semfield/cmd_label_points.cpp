// `semfield label-points`: the class label of any 3D point from a run's semantics (a gnesf model applied with 2D
// maps: each point voted on by the source views that see it) or from a distilled label field.
#include <cstdio>
#include <optional>

#include <ATen/ATen.h>

#include "commands.h"
#include "semfield/core/error.h"
#include "semfield/core/file_util.h"
#include "semfield/core/tensor_state.h"
#include "semfield/io/array_torch.h"
#include "semfield/io/npy.h"
#include "semfield/pipeline/distill_run.h"
#include "semfield/pipeline/run_folder.h"

namespace semfield::cli {

namespace {

struct LabelPointsArgs {
  std::string run, points, out, labels = "semantics";
  bool normalised = false, probabilities = false;
};

void run_label_points(const LabelPointsArgs& args) {
  const at::Tensor raw = array_to_tensor(read_npy(args.points)).to(at::kDouble);
  if (raw.dim() != 2 || raw.size(1) != 3 || raw.size(0) == 0)
    fail_input(args.points, "", "expected points [N, 3], got {}", describe_tensor(raw));
  if (!at::isfinite(raw).all().item<bool>()) fail_input(args.points, "", "points must be finite");
  const LoadedRun loaded = load_run(args.run);
  std::optional<LoadedDistill> field;
  const SemanticSource& source = class_label_source(loaded, args.run, args.labels, field, "label-points --labels");
  // The scene's own (file) coordinates, as in its transforms file, unless --normalised: to the model's frame.
  at::Tensor points = raw;
  if (!args.normalised) points = loaded.model->frame().to_normalised(raw);
  const at::Tensor logits = source.point_outputs(points.to(at::kFloat).contiguous()).front();
  const at::Tensor ids = logits.argmax(1).to(at::kInt);
  write_npy(args.out, tensor_to_array(ids));
  const std::filesystem::path out(args.out);
  const std::filesystem::path stem = out.parent_path() / out.stem();
  if (args.probabilities) write_npy(stem.string() + "_probs.npy", tensor_to_array(at::softmax(logits, 1).contiguous()));
  nlohmann::json classes = class_counts_json(source, ids, "points");
  classes["source"] = args.labels;
  write_file_atomic(stem.string() + ".json", classes.dump(2) + "\n");
  std::printf("labelled %lld points from %s -> %s (ids), %s.json (classes)%s\n", static_cast<long long>(ids.numel()),
              args.labels.c_str(), args.out.c_str(), stem.c_str(), args.probabilities ? ", _probs.npy" : "");
}

}  // namespace

void add_label_points_command(CLI::App& app) {
  auto args = std::make_shared<LabelPointsArgs>();
  CLI::App* cmd = app.add_subcommand("label-points", "Class labels of 3D points from a run's semantics or label field");
  cmd->add_option("--run", args->run, "Run folder (a gnesf model applied with 2D maps, or a run with a label field)")
      ->required();
  cmd->add_option("--points", args->points, ".npy of points [N, 3] in the scene's own coordinates")->required();
  cmd->add_option("--out", args->out, ".npy of int32 class ids [N]; classes beside it in <stem>.json")->required();
  cmd->add_option("--labels", args->labels, "semantics (the run's model) or a distilled label field's name")
      ->capture_default_str();
  cmd->add_flag("--normalised", args->normalised, "Points are in the model's normalised frame, not the scene's own");
  cmd->add_flag("--probabilities", args->probabilities, "Also write <stem>_probs.npy: [N, K] class probabilities");
  cmd->callback([args] { run_label_points(*args); });
}

}  // namespace semfield::cli
