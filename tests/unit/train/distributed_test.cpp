// Data-parallel training: torchrun's environment, world size 1 without a network, and real two-rank Gloo jobs on
// loopback whose workers are copies of this test binary started by launch_local_workers.
//
// A worker is this binary run with SEMFIELD_DISTRIBUTED_TEST_WORKER=<role>: a gtest global environment, registered
// before main, runs the role in its SetUp (after all static initialisation, before any test) and leaves with
// std::_Exit(status), so a worker never runs a test and the parent reads its verdict from the exit status. Every wait
// is bounded: the workers' collectives by DistributedOptions::timeout, the whole job by launch_local_workers' timeout.
#include "semfield/train/distributed.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "semfield/core/error.h"
#include "semfield/train/adam.h"
#include "support/test_support.h"

using namespace semfield;

namespace {

constexpr const char* kWorkerRoleVariable = "SEMFIELD_DISTRIBUTED_TEST_WORKER";
constexpr const char* kWorkerOutVariable = "SEMFIELD_DISTRIBUTED_TEST_OUT";
constexpr std::chrono::seconds kWorkerTimeout{60};  // each collective / rendezvous in a worker
constexpr std::chrono::seconds kJobTimeout{120};    // a whole two-rank job

// ---------------------------------------------------------------------------------------------------------------
// The model of the equivalence test: y = W2 tanh(W1 x + b1) + b2, x [n, 4] -> y [n, 2], 16 hidden units.

struct TinyMlp {
  at::Tensor w1, b1, w2, b2;
  std::vector<at::Tensor> params() const { return {w1, b1, w2, b2}; }
  /// [n, 4] -> [n, 2]
  at::Tensor forward(const at::Tensor& x) const { return at::linear(at::tanh(at::linear(x, w1, b1)), w2, b2); }
};

TinyMlp make_tiny_mlp(uint64_t seed) {
  at::Generator gen = at::detail::createCPUGenerator(seed);
  auto param = [&](at::IntArrayRef shape, double scale) {
    return (at::randn(shape, gen) * scale).requires_grad_(true);
  };
  return {param({16, 4}, 0.5), param({16}, 0.1), param({2, 16}, 0.5), param({2}, 0.1)};
}

/// The fixed global batch: x [64, 4], y = sin(x A) [64, 2].
std::pair<at::Tensor, at::Tensor> global_batch() {
  at::Generator gen = at::detail::createCPUGenerator(7);
  const at::Tensor x = at::randn({64, 4}, gen);
  const at::Tensor a = at::randn({4, 2}, gen);
  return {x, at::sin(at::matmul(x, a))};
}

/// 20 Adam steps of the MSE loss averaged over this rank's equal share of the global batch, gradients averaged over
/// the ranks. Each rank initialises from its own seed, so only the broadcast makes them start alike. Returns all
/// parameters flattened into one tensor [n_params].
at::Tensor train_tiny_mlp(ProcessGroup& group) {
  const TinyMlp mlp = make_tiny_mlp(11 + 1000 * static_cast<uint64_t>(group.rank()));
  {
    at::NoGradGuard no_grad;
    std::vector<at::Tensor> params = mlp.params();
    group.broadcast(params);
  }
  const auto [x, y] = global_batch();
  const int64_t share = x.size(0) / group.world_size();
  const at::Tensor x_rank = x.narrow(0, group.rank() * share, share);
  const at::Tensor y_rank = y.narrow(0, group.rank() * share, share);
  DenseAdam adam(mlp.params());
  kernels::AdamHyper hyper;
  hyper.lr = 1e-2;
  hyper.eps = 1e-8;
  for (int step = 0; step < 20; ++step) {
    const at::Tensor loss = (mlp.forward(x_rank) - y_rank).pow(2).mean();
    loss.backward();
    group.average_gradients(mlp.params());
    adam.step(hyper);
  }
  std::vector<at::Tensor> flat;
  for (const at::Tensor& p : mlp.params()) flat.push_back(p.detach().reshape({-1}));
  return at::cat(flat);
}

void write_floats(const std::filesystem::path& path, const at::Tensor& values) {
  const at::Tensor v = values.contiguous().to(at::kFloat);
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data_ptr<float>()), static_cast<std::streamsize>(v.numel() * 4));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

at::Tensor read_floats(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  const auto bytes = static_cast<int64_t>(in.tellg());
  at::Tensor v = at::empty({bytes / 4}, at::kFloat);
  in.seekg(0);
  in.read(reinterpret_cast<char*>(v.data_ptr<float>()), bytes);
  return v;
}

// ---------------------------------------------------------------------------------------------------------------
// Worker roles (run inside the launched copies; a non-zero return is the test's failure)

/// Prints why a worker check failed and returns the status to exit with.
int worker_failure(const ProcessGroup& group, const std::string& what) {
  std::fprintf(stderr, "distributed worker rank %d: %s\n", group.rank(), what.c_str());
  return 1;
}

int run_collectives_worker(ProcessGroup& group) {
  const float r = static_cast<float>(group.rank());
  const float n = static_cast<float>(group.world_size());
  const float mean_rank = (n - 1.0f) / 2.0f;
  // Several shapes in one call, one of them non-contiguous (a transposed view), so packing and unpacking both count.
  at::Tensor matrix = at::arange(12, at::kFloat).view({3, 4}) + r;
  at::Tensor vector = at::full({5}, 10.0f * (r + 1.0f));
  at::Tensor base = at::arange(6, at::kFloat).view({2, 3}) * (r + 1.0f);
  at::Tensor transposed = base.t();
  std::vector<at::Tensor> tensors{matrix, vector, transposed};
  group.all_reduce_mean(tensors);
  if (!at::allclose(matrix, at::arange(12, at::kFloat).view({3, 4}) + mean_rank))
    return worker_failure(group, "all_reduce_mean: matrix is not the mean");
  if (!at::allclose(vector, at::full({5}, 10.0f * (mean_rank + 1.0f))))
    return worker_failure(group, "all_reduce_mean: vector is not the mean");
  if (!at::allclose(base, at::arange(6, at::kFloat).view({2, 3}) * (mean_rank + 1.0f)))
    return worker_failure(group, "all_reduce_mean: the transposed view's base is not the mean");
  at::Tensor single = at::full({7}, r);  // one contiguous tensor: reduced in place
  std::vector<at::Tensor> one{single};
  group.all_reduce_mean(one);
  if (!at::allclose(single, at::full({7}, mean_rank))) return worker_failure(group, "single tensor not the mean");
  if (group.stats().n_all_reduces != 2 || group.stats().all_reduce_bytes != (12 + 5 + 6 + 7) * 4)
    return worker_failure(group, "communication stats do not count the two all-reduces");

  // Broadcast from rank 0 and from the last rank, mixed dtypes.
  at::Tensor values = at::full({3, 2}, 100.0f + r);
  at::Tensor counts = at::full({4}, static_cast<int64_t>(group.rank()), at::kLong);
  std::vector<at::Tensor> both{values, counts};
  group.broadcast(both);
  if (!at::equal(values, at::full({3, 2}, 100.0f)) || !at::equal(counts, at::zeros({4}, at::kLong)))
    return worker_failure(group, "broadcast from rank 0 did not give rank 0's values");
  at::Tensor from_last = at::full({2}, r);
  std::vector<at::Tensor> last{from_last};
  group.broadcast(last, group.world_size() - 1);
  if (!at::equal(from_last, at::full({2}, n - 1.0f)))
    return worker_failure(group, "broadcast from the last rank did not give its values");
  group.barrier();
  return 0;
}

int run_train_worker(ProcessGroup& group) {
  const at::Tensor params = train_tiny_mlp(group);
  const char* out = std::getenv(kWorkerOutVariable);
  if (out == nullptr) return worker_failure(group, std::string(kWorkerOutVariable) + " is not set");
  write_floats(std::filesystem::path(out) / fmt::format("rank{}.bin", group.rank()), params);
  group.barrier();
  return 0;
}

int run_distributed_test_worker(const std::string& role) {
  at::set_num_threads(1);  // two ranks share the test machine's cores
  DistributedOptions options = distributed_options_from_env();
  // A rank that fails early makes the other's rendezvous fail; the launcher stops the survivor either way.
  if (role == "fail") {
    if (options.rank == 1) return 3;
    ProcessGroup group(options);
    return 0;
  }
  options.timeout = kWorkerTimeout;
  ProcessGroup group(options);
  if (role == "collectives") return run_collectives_worker(group);
  if (role == "train") return run_train_worker(group);
  return worker_failure(group, "unknown worker role '" + role + "'");
}

/// Runs the worker role in place of the tests when SEMFIELD_DISTRIBUTED_TEST_WORKER is set.
class DistributedWorkerEnvironment : public ::testing::Environment {
 public:
  explicit DistributedWorkerEnvironment(std::string role) : m_role(std::move(role)) {}
  void SetUp() override {
    int status = 1;
    try {
      status = run_distributed_test_worker(m_role);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "distributed worker (%s): %s\n", m_role.c_str(), e.what());
    }
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(status);  // no test, no static destructors, no gtest summary
  }

 private:
  std::string m_role;
};

const ::testing::Environment* const g_distributed_worker_environment = [] {
  const char* role = std::getenv(kWorkerRoleVariable);
  return role == nullptr ? nullptr : ::testing::AddGlobalTestEnvironment(new DistributedWorkerEnvironment(role));
}();

/// Runs a two-rank job of this binary in `role`; returns the launcher's status.
int run_two_rank_job(const std::string& role) {
  const test::ScopedEnv worker(kWorkerRoleVariable, role);
  // The filter only keeps the workers' gtest banner short: they exit in the environment's SetUp.
  return launch_local_workers(2, {"distributed_test_worker", "--gtest_filter=DistributedEnv.*"}, 0, kJobTimeout);
}

// ---------------------------------------------------------------------------------------------------------------

TEST(DistributedEnv, ReadsTorchrunVariables) {
  const DistributedOptions o = distributed_options_from_env({{"MASTER_ADDR", "10.0.0.5"},
                                                             {"MASTER_PORT", "29611"},
                                                             {"WORLD_SIZE", "4"},
                                                             {"RANK", "3"},
                                                             {"LOCAL_RANK", "1"},
                                                             {"LOCAL_WORLD_SIZE", "2"},
                                                             {"GLOO_SOCKET_IFNAME", "eth1"}});
  EXPECT_EQ(o.master_addr, "10.0.0.5");
  EXPECT_EQ(o.master_port, 29611);
  EXPECT_EQ(o.world_size, 4);
  EXPECT_EQ(o.rank, 3);
  EXPECT_EQ(o.local_world_size, 2);
  EXPECT_EQ(o.interface, "eth1");
}

TEST(DistributedEnv, MissingVariablesMeanOneProcess) {
  const DistributedOptions o = distributed_options_from_env(std::map<std::string, std::string>{});
  EXPECT_EQ(o.world_size, 1);
  EXPECT_EQ(o.rank, 0);
  EXPECT_EQ(o.local_world_size, 1);
  EXPECT_EQ(o.master_addr, "127.0.0.1");
  EXPECT_EQ(o.master_port, 29500);
  EXPECT_TRUE(o.interface.empty());
  // Empty values count as unset.
  EXPECT_EQ(distributed_options_from_env({{"WORLD_SIZE", ""}, {"RANK", ""}}).world_size, 1);
}

TEST(DistributedEnv, MalformedValuesNameTheVariable) {
  auto error = [](std::map<std::string, std::string> env) {
    return test::error_of([&] { distributed_options_from_env(env); });
  };
  EXPECT_EQ(error({{"WORLD_SIZE", "two"}}),
            "environment variable WORLD_SIZE: expected an integer in 1..1048576, got 'two'");
  EXPECT_EQ(error({{"WORLD_SIZE", "0"}}), "environment variable WORLD_SIZE: expected an integer in 1..1048576, got '0'");
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}, {"RANK", "1x"}}),
            "environment variable RANK: expected an integer in 0..1048576, got '1x'");
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}, {"RANK", "-1"}}),
            "environment variable RANK: expected an integer in 0..1048576, got '-1'");
  EXPECT_EQ(error({{"LOCAL_WORLD_SIZE", "0"}}),
            "environment variable LOCAL_WORLD_SIZE: expected an integer in 1..1048576, got '0'");
  EXPECT_EQ(error({{"MASTER_PORT", "70000"}}),
            "environment variable MASTER_PORT: expected an integer in 1..65535, got '70000'");
  EXPECT_EQ(error({{"WORLD_SIZE", "2"}, {"RANK", "2"}}),
            "environment variable RANK: 2 is out of range for WORLD_SIZE 2 (expected 0..1)");
  EXPECT_EQ(error({{"RANK", "1"}}), "environment variable RANK: 1 is out of range for WORLD_SIZE 1 (expected 0..0)");
  EXPECT_THROW(distributed_options_from_env({{"WORLD_SIZE", "two"}}), UsageError);
}

TEST(DistributedProcessGroup, RejectsRankOutOfRange) {
  DistributedOptions options;
  options.world_size = 2;
  options.rank = 2;
  EXPECT_EQ(test::error_of([&] { ProcessGroup group(options); }),
            "distributed: rank 2 is out of range for world size 2 (expected 0..1)");
}

TEST(DistributedProcessGroup, WorldSizeOneIsLocalNoOps) {
  ProcessGroup group(DistributedOptions{});  // no store, no network
  EXPECT_EQ(group.rank(), 0);
  EXPECT_EQ(group.world_size(), 1);
  EXPECT_TRUE(group.is_main());
  at::Tensor a = at::arange(6, at::kFloat).view({2, 3});
  at::Tensor b = at::full({4}, 2.5);
  std::vector<at::Tensor> tensors{a, b};
  group.all_reduce_mean(tensors);
  group.broadcast(tensors);
  group.barrier();
  EXPECT_TRUE(at::equal(a, at::arange(6, at::kFloat).view({2, 3})));
  EXPECT_TRUE(at::equal(b, at::full({4}, 2.5)));
  EXPECT_EQ(group.stats().n_all_reduces, 0);
  EXPECT_EQ(group.last_all_reduce_seconds(), 0.0);
  // A parameter without a gradient gets a zero one.
  at::Tensor p = at::ones({3}).requires_grad_(true);
  group.average_gradients({p});
  ASSERT_TRUE(p.grad().defined());
  EXPECT_TRUE(at::equal(p.grad(), at::zeros({3})));
}

TEST(DistributedProcessGroup, RendezvousTimesOutInsteadOfHanging) {
  // Rank 0 waiting for a rank 1 that never comes, and a rank 1 with no rank 0 to reach: both give up after the
  // timeout with an Error naming the store's address and what is missing.
  for (const int rank : {0, 1}) {
    DistributedOptions options;
    options.world_size = 2;
    options.rank = rank;
    options.master_port = free_tcp_port();
    options.timeout = std::chrono::seconds(2);
    const auto start = std::chrono::steady_clock::now();
    const std::string message = test::error_of([&] { ProcessGroup group(options); });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string expected =
        rank == 0 ? fmt::format("distributed: only 1 of 2 ranks joined the rendezvous at 127.0.0.1:{} within 2 s",
                                options.master_port)
                  : fmt::format("distributed: rank 1 of 2 could not reach the rendezvous store at 127.0.0.1:{} "
                                "within 2 s",
                                options.master_port);
    EXPECT_EQ(message.rfind(expected, 0), 0u) << message;
    EXPECT_LT(seconds, 30.0) << "rank " << rank;
  }
}

TEST(DistributedLaunch, RejectsBadArguments) {
  EXPECT_EQ(test::error_of([] { launch_local_workers(0, {"semfield"}, 0); }),
            "--nproc: expected a number of processes >= 1, got 0");
  EXPECT_THROW(launch_local_workers(2, {}, 0), UsageError);
}

TEST(DistributedTwoRanks, AllReduceMeanAndBroadcast) { EXPECT_EQ(run_two_rank_job("collectives"), 0); }

TEST(DistributedTwoRanks, FailingRankStopsTheJob) {
  // Rank 1 exits 3 at once; rank 0 would wait kWorkerTimeout for it, but the launcher stops it first.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(run_two_rank_job("fail"), 3);
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 30.0);
}

TEST(DistributedTwoRanks, SameParametersAsOneRankOnTheGlobalBatch) {
  // One process on the 64 samples vs two ranks on 32 each with averaged gradients: the mean of the two half-batch
  // mean gradients is the full-batch mean gradient, so both reach the same parameters up to float rounding.
  test::TempDir dir;
  const test::ScopedEnv out(kWorkerOutVariable, dir.path().string());
  ASSERT_EQ(run_two_rank_job("train"), 0);
  ProcessGroup single(DistributedOptions{});
  const at::Tensor reference = train_tiny_mlp(single);
  const at::Tensor rank0 = read_floats(dir / "rank0.bin");
  const at::Tensor rank1 = read_floats(dir / "rank1.bin");
  ASSERT_EQ(rank0.numel(), reference.numel());
  ASSERT_EQ(rank1.numel(), reference.numel());
  EXPECT_TRUE(at::equal(rank0, rank1)) << "the ranks diverged: " << (rank0 - rank1).abs().max().item<float>();
  const float diff = (rank0 - reference).abs().max().item<float>();
  EXPECT_LT(diff, 1e-5f) << "max |2 ranks - 1 rank| over the parameters";
  // And training moved them: the check is not two untouched initialisations.
  const at::Tensor initial = at::cat({make_tiny_mlp(11).w1.detach().reshape({-1})});
  EXPECT_GT((reference.narrow(0, 0, initial.numel()) - initial).abs().max().item<float>(), 1e-2f);
}

}  // namespace
