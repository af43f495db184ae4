// `semfield train-corpus`: train a generalizable (image-conditioned) model across the scenes of a corpus, on one
// process or data-parallel over several (torch.distributed c10d / Gloo; docs/distributed.md).
#include <algorithm>
#include <cstdlib>
#include <thread>

#include "commands.h"
#include "interrupt.h"
#include "semfield/core/error.h"
#include "semfield/core/json_reader.h"
#include "semfield/core/log.h"
#include "semfield/models/model_file.h"
#include "semfield/models/registry.h"
#include "semfield/train/corpus_trainer.h"
#include "semfield/train/distributed.h"

namespace semfield::cli {

namespace {

struct TrainCorpusArgs {
  CorpusTrainOptions options;
  std::string config;
  std::string init;
  int nproc = 1;
};

void run_train_corpus(const TrainCorpusArgs& args) {
  // --nproc N without a launcher's environment: become the launcher of N workers (torchrun on one machine).
  if (args.nproc > 1 && std::getenv("RANK") == nullptr) {
    std::vector<std::string> argv;
    const auto& line = command_line();
    // As torchrun sets OMP_NUM_THREADS: the workers share the cores unless --threads says otherwise.
    const bool threads_given = std::any_of(line.begin(), line.end(), [](const std::string& a) {
      return a == "--threads" || a.rfind("--threads=", 0) == 0;
    });
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == "--nproc") {
        ++i;
        continue;
      }
      if (line[i].rfind("--nproc=", 0) == 0) continue;
      argv.push_back(line[i]);
      if (i == 0 && !threads_given) {
        argv.push_back("--threads");
        argv.push_back(std::to_string(std::max(1u, std::thread::hardware_concurrency() / static_cast<unsigned>(args.nproc))));
      }
    }
    const int status = launch_local_workers(args.nproc, argv, 0);
    if (status != 0) throw Error(fmt::format("a worker of the {}-process job failed (exit status {})", args.nproc, status));
    return;
  }
  CorpusTrainOptions options = args.options;
  if (!args.config.empty()) {
    const JsonNode node = JsonNode::parse_file(args.config);
    options.model_config = node.raw();
  }
  if (!args.init.empty()) options.init_model = resolve_model(args.init, default_models_dir());
  const DistributedOptions dist = distributed_options_from_env();
  options.local_ranks = dist.local_world_size;
  std::unique_ptr<ProcessGroup> group;
  if (dist.world_size > 1) {
    group = std::make_unique<ProcessGroup>(dist);
    if (!group->is_main()) options.show_progress = false;
    log::info("rank {} of {} (c10d/gloo via {}:{})", group->rank(), group->world_size(), dist.master_addr,
              dist.master_port);
  }
  CorpusTrainSummary summary;
  {
    const InterruptScope interrupt;
    options.stop_requested = interrupt.flag();
    summary = train_corpus(options, group.get());
  }
  if (!group || group->is_main()) {
    std::printf("trained %lld steps in %.1f s; validation psnr %.2f", static_cast<long long>(summary.steps),
                summary.seconds, summary.val_psnr);
    if (group)
      std::printf("; all-reduce %.3f s per step (%.1f %% of a step)",
                  summary.all_reduce_seconds / std::max<int64_t>(summary.steps, 1),
                  summary.seconds > 0 ? 100.0 * summary.all_reduce_seconds / summary.seconds : 0.0);
    std::printf(" -> %s/model.safetensors\n", options.run_dir.c_str());
  }
}

}  // namespace

void add_train_corpus_command(CLI::App& app) {
  auto args = std::make_shared<TrainCorpusArgs>();
  CorpusTrainOptions& o = args->options;
  CLI::App* cmd = app.add_subcommand(
      "train-corpus", "Train a generalizable model on a corpus of scenes (data-parallel with --nproc or torchrun "
                      "variables MASTER_ADDR/MASTER_PORT/WORLD_SIZE/RANK)");
  cmd->add_option("--data", o.corpus, "Corpus folder: scene folders (e.g. from `semfield synth --scenes K --vary`)")
      ->required();
  cmd->add_option("--out", o.run_dir, "Run folder (config, checkpoint, progress, model.safetensors)")->required();
  cmd->add_option("--type", o.model_type, "Model type (see `semfield models`)");
  cmd->add_option("--config", args->config, "JSON config of the model type (unknown keys are an error)");
  cmd->add_option("--name", o.name, "Model name (default: the run folder's name)");
  cmd->add_option("--steps", o.steps, "Total training steps");
  cmd->add_option("--time-budget", o.time_budget, "Stop after this many seconds of training (total over resumes)");
  cmd->add_option("--lr", o.lr, "Initial learning rate (exponential decay to a tenth)");
  cmd->add_option("--ema", o.ema,
                  "Keep an exponential moving average of the weights with this decay (e.g. 0.999; 0 = none): "
                  "validation and model.safetensors use the average")
      ->check(CLI::Range(0.0, 0.99999));
  cmd->add_option("--rays", o.rays, "Target rays per example")->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--batch", o.batch, "Examples per step, over all ranks (a multiple of the rank count)")
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--source-views", o.source_views, "Source views per example")->check(CLI::Range(1, 64));
  cmd->add_option("--source-pool", o.source_pool, "... drawn from this many nearest views")->check(CLI::Range(1, 256));
  cmd->add_option("--eval-interval", o.eval_interval, "Validation on held-out scenes every N steps (0 = at the end)");
  cmd->add_option("--val-scenes", o.val_scenes, "Validation scenes rendered")->check(CLI::Range(0, 10000));
  cmd->add_option("--val-views", o.val_views, "Test views per validation scene")->check(CLI::Range(1, 10000));
  cmd->add_option("--val-every", o.val_every, "Without corpus.json: every N-th scene is validation (0 = none)");
  cmd->add_option("--checkpoint-interval", o.checkpoint_interval, "Checkpoint every N steps (0 = at the end)");
  cmd->add_option("--seed", o.seed, "Seed of the examples drawn");
  cmd->add_option("--background", o.background, "white | black | r,g,b (RGBA images are composited over it)");
  cmd->add_option("--nproc", args->nproc, "Start N local processes (ranks) on this machine")->check(CLI::Range(1, 256));
  cmd->add_option("--init", args->init, "Start from this model's weights (a name or file; e.g. a trained ibr model "
                                        "as a gnesf model's radiance network, or a featurenerf model fine-tuned with "
                                        "other loss weights)");
  cmd->add_flag("--resume", o.resume, "Continue from the run folder's checkpoint");
  cmd->callback([args] { run_train_corpus(*args); });
}

}  // namespace semfield::cli
