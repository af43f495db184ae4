// Training across a corpus: validation PSNR on a held-out scene rises, resuming continues the run, and two
// data-parallel ranks (c10d/Gloo on loopback, through the CLI's --nproc launcher) take the same steps as one rank
// on the same global batch.
#include <fstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "semfield/data/synth/synth_writer.h"
#include "semfield/io/checkpoint.h"
#include "semfield/models/ibr/ibr_config.h"
#include "semfield/models/model_file.h"
#include "semfield/models/registry.h"
#include "semfield/train/corpus_trainer.h"
#include "support/small_models.h"
#include "support/small_scenes.h"
#include "support/test_support.h"

namespace semfield {
namespace {

std::filesystem::path tiny_corpus(const test::TempDir& tmp) {
  return test::write_small_scenes(tmp / "corpus", 5, 12, 32, 7100);
}

nlohmann::json tiny_ibr_json() {
  IbrConfig c = test::small_ibr_config();
  c.n_coarse = 16;
  c.n_fine = 8;
  c.source_views = IbrConfig{}.source_views;
  return to_json(c);
}

CorpusTrainOptions tiny_options(const std::filesystem::path& corpus, const std::filesystem::path& run) {
  CorpusTrainOptions o;
  o.corpus = corpus;
  o.run_dir = run;
  o.model_config = tiny_ibr_json();
  o.rays = 128;
  o.source_views = 4;
  o.source_pool = 6;
  o.val_every = 5;  // scene_004 is the validation scene
  o.val_scenes = 1;
  o.val_views = 2;
  o.lr = 2e-3;
  o.show_progress = false;
  return o;
}

std::vector<nlohmann::json> progress_lines(const std::filesystem::path& run, const char* key) {
  std::vector<nlohmann::json> out;
  std::ifstream in(run / "progress.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains(key)) out.push_back(j);
  }
  return out;
}

TEST(CorpusTrainer, ValidationPsnrRisesOnAnUnseenSceneAndResumeContinues) {
  test::TempDir tmp;
  const auto corpus = tiny_corpus(tmp);
  CorpusTrainOptions o = tiny_options(corpus, tmp / "run");
  o.steps = 300;
  o.eval_interval = 100;
  o.checkpoint_interval = 150;
  o.name = "tiny-ibr";
  const CorpusTrainSummary summary = train_corpus(o);
  EXPECT_EQ(summary.steps, 300);
  const auto val = progress_lines(tmp / "run", "val_psnr");
  ASSERT_EQ(val.size(), 4u);  // before training, then every 100 steps
  EXPECT_EQ(val.front()["step"], 0);
  const double first = val.front()["val_psnr"], last = val.back()["val_psnr"];
  // Measured (2 cores, seed 7100): 15.45 dB untrained -> 18.12 dB after 300 steps (thresholds a margin under).
  EXPECT_GT(last, first + 2.0) << "validation PSNR " << first << " -> " << last;
  EXPECT_GT(last, 17.5);
  const ModelFile model = read_model_file(tmp / "run" / "model.safetensors");
  EXPECT_EQ(model.type, "ibr");
  EXPECT_EQ(model.info["steps"], 300);
  EXPECT_EQ(model.info["trained_on"]["train_scenes"], 4);
  EXPECT_EQ(model.info["trained_on"]["unbounded_scenes"], 0);  // tabletop scenes, inside the box
  // The corpus's images are 32 px: the model resamples source images of other sizes to that before its encoder.
  EXPECT_EQ(model.config.at("encode_size"), 32);

  o.steps = 320;
  o.resume = true;
  o.model_config = nlohmann::json::object();  // a resumed run continues the checkpoint's model, whatever this says
  o.eval_interval = 0;
  o.name.clear();  // without --name the resumed run keeps its name (not the folder's, "run")
  const CorpusTrainSummary more = train_corpus(o);
  EXPECT_EQ(more.steps, 20);
  EXPECT_EQ(read_model_file(tmp / "run" / "model.safetensors").info["steps"], 320);
  EXPECT_EQ(read_model_file(tmp / "run" / "model.safetensors").name, "tiny-ibr");
  o.steps = 330;  // and a second resume still does (the checkpoint keeps the effective name)
  train_corpus(o);
  EXPECT_EQ(read_model_file(tmp / "run" / "model.safetensors").name, "tiny-ibr");
}

TEST(CorpusTrainer, WeightAverageIsWhatTheModelFileHoldsAndResumes) {
  test::TempDir tmp;
  const auto corpus = tiny_corpus(tmp);
  CorpusTrainOptions o = tiny_options(corpus, tmp / "run");
  o.steps = 30;
  o.eval_interval = 0;
  o.checkpoint_interval = 0;
  o.ema = 0.9;
  train_corpus(o);
  auto read = [&] { return load_checkpoint(tmp / "run" / "checkpoint.ckpt"); };
  Checkpoint ckpt = read();
  EXPECT_EQ(ckpt.metadata["ema_updates"], 30);
  EXPECT_DOUBLE_EQ(ckpt.metadata["ema"].get<double>(), 0.9);
  // The model file holds the average, not the trained weights: every tensor of the file equals the checkpoint's
  // average of the same shape-and-value parameter, and at least one differs from the trained weight.
  const ModelFile model = read_model_file(tmp / "run" / "model.safetensors");
  EXPECT_DOUBLE_EQ(model.info["ema"]["decay"].get<double>(), 0.9);
  int averaged = 0, differs = 0;
  for (const auto& [name, w] : model.weights) {
    const at::Tensor trained = ckpt.tensors.at("model." + name);
    bool in_average = false;
    for (const auto& [key, t] : ckpt.tensors)
      if (key.rfind("ema.", 0) == 0 && t.sizes().equals(w.sizes()) && at::equal(t, w)) in_average = true;
    averaged += in_average;
    differs += !at::equal(trained, w);
  }
  EXPECT_GT(averaged, 0);
  EXPECT_GT(differs, 0);
  size_t ema_tensors = 0;
  for (const auto& [key, t] : ckpt.tensors) ema_tensors += key.rfind("ema.", 0) == 0;
  EXPECT_EQ(averaged, static_cast<int>(ema_tensors));  // every parameter is averaged and stored
  // A resume continues the average (its update count), not a fresh copy of the weights.
  o.resume = true;
  o.steps = 40;
  train_corpus(o);
  ckpt = read();
  EXPECT_EQ(ckpt.metadata["ema_updates"], 40);
  // A run without an average resumed with one starts it from the current weights.
  CorpusTrainOptions plain = tiny_options(corpus, tmp / "plain");
  plain.steps = 10;
  plain.eval_interval = 0;
  train_corpus(plain);
  EXPECT_FALSE(load_checkpoint(tmp / "plain" / "checkpoint.ckpt").metadata.contains("ema_updates"));
  plain.resume = true;
  plain.steps = 15;
  plain.ema = 0.99;
  train_corpus(plain);
  EXPECT_EQ(load_checkpoint(tmp / "plain" / "checkpoint.ckpt").metadata["ema_updates"], 5);
  // Out of range: a usage error naming the option.
  o = tiny_options(corpus, tmp / "bad");
  o.ema = 1.0;
  EXPECT_NE(test::error_of([&] { train_corpus(o); }).find("--ema"), std::string::npos);
}

TEST(CorpusTrainer, TheModelFileCountsTheCorpussScenesBeyondTheBox) {
  // `apply` warns about a scene past the box unless the model's corpus had such scenes: the count it reads.
  test::TempDir tmp;
  const auto corpus = tiny_corpus(tmp);
  test::write_small_open_scene(corpus / "scene_000", 12, 32, 7200);  // replaces a training scene (scene_004 validates)
  CorpusTrainOptions o = tiny_options(corpus, tmp / "run");
  o.steps = 2;
  o.eval_interval = 0;
  o.checkpoint_interval = 0;
  train_corpus(o);
  const ModelFile model = read_model_file(tmp / "run" / "model.safetensors");
  EXPECT_EQ(model.info["trained_on"]["train_scenes"], 4);
  EXPECT_EQ(model.info["trained_on"]["unbounded_scenes"], 1);
}

TEST(CorpusTrainer, BadOptionsAreUsageErrors) {
  test::TempDir tmp;
  CorpusTrainOptions o = tiny_options(tmp / "none", tmp / "run");
  o.source_pool = 2;
  EXPECT_NE(test::error_of([&] { train_corpus(o); }).find("--source-pool"), std::string::npos);
  o = tiny_options(tmp / "none", tmp / "run");
  EXPECT_NE(test::error_of([&] { train_corpus(o); }).find("none"), std::string::npos);
}

// A corpus too large for the memory available stops after its first scenes with an error naming the corpus and the
// projected need, before the rest is loaded (not minutes later by the kernel's OOM killer); with enough, it trains.
TEST(CorpusTrainer, ACorpusTooLargeForTheMemoryIsRefusedWhileLoading) {
  test::TempDir tmp;
  const std::filesystem::path corpus = tiny_corpus(tmp);
  CorpusTrainOptions o = tiny_options(corpus, tmp / "run");
  o.steps = 1;
  o.eval_interval = 0;
  // 4 training scenes of 12 views at 32^2: the first 2 are measured, the other 2 need ~0.2 MB.
  test::ScopedEnv memory("SEMFIELD_AVAILABLE_MEMORY", "100000");
  const std::string error = test::error_of([&] { train_corpus(o); });
  EXPECT_NE(error.find(corpus.string()), std::string::npos) << error;
  EXPECT_NE(error.find("4 scenes"), std::string::npos) << error;
  EXPECT_NE(error.find("too much for this machine"), std::string::npos) << error;
  EXPECT_NE(error.find("0.1 MB available"), std::string::npos) << error;
  EXPECT_EQ(error.find("ranks"), std::string::npos) << error;
  EXPECT_FALSE(std::filesystem::exists(tmp / "run" / "model.safetensors"));
  // Every rank on the machine holds its own copy: enough memory for one is not enough for 100 (local_ranks: the
  // CLI's LOCAL_WORLD_SIZE, as --nproc's launcher and torchrun set it).
  memory.set("20000000");
  o.local_ranks = 100;
  const std::string ranks_error = test::error_of([&] { train_corpus(o); });
  o.local_ranks = 1;
  EXPECT_NE(ranks_error.find("times 100 ranks on this machine"), std::string::npos) << ranks_error;
  memory.set("100000000000");
  o.run_dir = tmp / "run2";
  EXPECT_NO_THROW(train_corpus(o));
  EXPECT_TRUE(std::filesystem::exists(tmp / "run2" / "model.safetensors"));
}

// The distributed target: 2 ranks on loopback reach the parameters 1 rank reaches on the same global
// batch (2 examples per step), within float tolerance (the ranks sum gradients in another order).
TEST(CorpusTrainer, TwoGlooRanksMatchOneRankOnTheSameGlobalBatch) {
  test::TempDir tmp;
  const auto corpus = tiny_corpus(tmp);
  test::write_text(tmp / "config.json", tiny_ibr_json().dump());
  const std::string common = "--threads 1 train-corpus --data " + test::quoted(corpus) + " --config " +
                             test::quoted(tmp / "config.json") +
                             " --steps 6 --batch 2 --rays 64 --source-views 4 --source-pool 6 --val-every 5"
                             " --val-scenes 0 --eval-interval 0 --checkpoint-interval 0";
  const auto one = test::run_cli(common + " --out " + test::quoted(tmp / "one"));
  ASSERT_EQ(one.exit_code, 0) << one.output;
  const auto two = test::run_cli(common + " --nproc 2 --out " + test::quoted(tmp / "two"));
  ASSERT_EQ(two.exit_code, 0) << two.output;
  const ModelFile a = read_model_file(tmp / "one" / "model.safetensors");
  const ModelFile b = read_model_file(tmp / "two" / "model.safetensors");
  EXPECT_EQ(b.info["ranks"], 2);
  double worst = 0, moved = 0;
  const auto init = create_trainable_model("ibr", tiny_ibr_json(), "init")->state();
  for (const auto& [name, t] : a.weights) {
    worst = std::max(worst, (t - b.weights.at(name)).abs().max().item<double>());
    moved = std::max(moved, (t - init.at(name)).abs().max().item<double>());
  }
  std::printf("1 vs 2 ranks: largest parameter difference %.3g (largest change by training %.3g)\n", worst, moved);
  EXPECT_GT(moved, 1e-3);   // training changed the weights...
  EXPECT_LT(worst, 2e-5) << "largest difference between 1 and 2 ranks";  // ... identically on 1 and 2 ranks
}

}  // namespace
}  // namespace semfield
