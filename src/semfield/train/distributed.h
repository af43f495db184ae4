// Data-parallel training on torch.distributed's c10d (Gloo backend): one process per rank, each on its share of
// the global batch, gradients averaged across ranks every step, so all ranks take the same optimiser step.
//
// The contract a trainer follows (docs/distributed.md):
//   1. `ProcessGroup group(distributed_options_from_env());` in every process (torchrun's variables, or those
//      launch_local_workers sets);
//   2. `group.broadcast(params)` once, so every rank starts from rank 0's parameters;
//   3. per step: forward/backward on this rank's share of the batch with the loss a mean over that share, then
//      `group.average_gradients(params)` before the optimiser step (equal shares make the average of the per-rank
//      mean gradients the gradient of the mean over the global batch);
//   4. only `group.is_main()` writes checkpoints and logs; `group.barrier()` before the processes exit.
// World size 1 needs no network: no store, no Gloo, every collective returns at once.
//
// This header includes no c10d or Gloo header (they cost seconds per translation unit): the Gloo group lives
// behind a pointer to an implementation in distributed.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace semfield {

/// Where a process sits in a data-parallel job and how it reaches the others.
struct DistributedOptions {
  /// Address of rank 0's machine, reachable by every rank; rank 0 runs the rendezvous store (a TCP server) there.
  std::string master_addr = "127.0.0.1";
  /// TCP port of the rendezvous store on master_addr (1..65535); it must be free on rank 0 and open to the others.
  int master_port = 29500;
  int world_size = 1;  ///< number of processes (ranks), >= 1
  int rank = 0;        ///< this process, 0 .. world_size-1
  int local_world_size = 1;  ///< ranks on this process's machine (LOCAL_WORLD_SIZE; what they share, e.g. memory)
  /// Bound on the rendezvous (all ranks joining) and on each collective; past it the call throws instead of hanging.
  std::chrono::seconds timeout{300};
  /// Network interface(s) Gloo sends on ("eth0", or several comma-separated); empty: the one that the address
  /// master_addr is on when that is a loopback address, else the one this machine's hostname resolves to.
  std::string interface;
};

/// The options torchrun's environment describes: MASTER_ADDR, MASTER_PORT, WORLD_SIZE, RANK, LOCAL_WORLD_SIZE and
/// GLOO_SOCKET_IFNAME (-> interface); LOCAL_RANK is ignored (one process per rank, CPU). A variable that is unset
/// or empty keeps its default, so a plain run is world size 1. Throws UsageError naming the variable for a value
/// that is not an integer in range, and for RANK >= WORLD_SIZE.
DistributedOptions distributed_options_from_env();
/// As above from a given environment (name -> value), for tests.
DistributedOptions distributed_options_from_env(const std::map<std::string, std::string>& env);

/// What the collectives cost this process so far (wall time includes waiting for slower ranks).
struct CommunicationStats {
  int64_t n_all_reduces = 0;
  int64_t all_reduce_bytes = 0;        ///< sum of the reduced buffers' sizes
  double all_reduce_seconds = 0.0;     ///< total time in all_reduce_mean (packing, allreduce, unpacking)
  double last_all_reduce_seconds = 0.0;
  int64_t n_broadcasts = 0;
  double broadcast_seconds = 0.0;
};

/// One process's membership in a data-parallel job: a c10d::ProcessGroupGloo rendezvoused through a
/// c10d::TCPStore that rank 0 serves on master_addr:master_port. Every collective must be called by all ranks in
/// the same order with tensors of the same shapes and dtypes (Gloo pairs the calls up by order); tensors are CPU.
/// Not thread-safe: one thread issues the collectives.
class ProcessGroup {
 public:
  /// Joins the job: rank 0 starts the store and waits for the others, everyone then connects to every other rank.
  /// world_size 1 connects to nothing. Throws UsageError for inconsistent options (rank out of range, bad port)
  /// and Error when the rendezvous fails (the store's port taken, rank 0 unreachable, a rank missing past the
  /// timeout).
  explicit ProcessGroup(const DistributedOptions& options);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return m_rank; }
  int world_size() const { return m_world_size; }
  /// Rank 0: the one process that writes checkpoints and logs.
  bool is_main() const { return m_rank == 0; }

  /// Replaces every tensor by its mean over the ranks, in place. The tensors (any shapes, contiguous or not) must
  /// all be defined and share one floating dtype; they are packed into one flat buffer [sum of numels] so the
  /// whole list costs one allreduce (SUM, then / world_size), and unpacked back. Throws Error when a rank fails
  /// or the timeout passes.
  void all_reduce_mean(std::vector<at::Tensor>& tensors);
  /// all_reduce_mean of the parameters' .grad(); a parameter without a gradient on this rank (it took no part in
  /// this rank's loss) gets a zero one first, so every rank reduces the same layout.
  void average_gradients(const std::vector<at::Tensor>& params);
  /// Overwrites every tensor, in place, with rank `root`'s values (one flat buffer, like all_reduce_mean). Call it
  /// on the parameters under at::NoGradGuard before training so all ranks start alike.
  void broadcast(std::vector<at::Tensor>& tensors, int root = 0);
  /// Returns when every rank has called it.
  void barrier();

  const CommunicationStats& stats() const { return m_stats; }
  double last_all_reduce_seconds() const { return m_stats.last_all_reduce_seconds; }

 private:
  struct Impl;
  std::unique_ptr<Impl> m_impl;  ///< null for world size 1
  int m_rank = 0;
  int m_world_size = 1;
  CommunicationStats m_stats;
};

/// A TCP port that is free on `host` now (bound to port 0 and read back, then released): for a local job's
/// MASTER_PORT. Another process may take it before it is used again; a rendezvous on a taken port fails loudly.
int free_tcp_port(const std::string& host = "127.0.0.1");

/// The `--nproc N` launcher (torchrun on one machine): starts N copies of the running executable
/// (/proc/self/exe) with argv `argv` (argv[0] included, --nproc removed so the copies run as workers) and, in
/// their environment, MASTER_ADDR=127.0.0.1, MASTER_PORT=master_port (<= 0: a free_tcp_port()), WORLD_SIZE=N,
/// RANK=i, LOCAL_RANK=i, LOCAL_WORLD_SIZE=N. Waits for all of them. If one fails (non-zero exit or a signal) the
/// others get SIGTERM (SIGKILL 10 s later); `timeout` > 0 bounds the whole job the same way. Returns 0 when every
/// worker exited 0, else the first failure's exit status (128 + signal number for a signal, 124 for the timeout).
/// Throws UsageError for nproc < 1 or an empty argv, Error when a worker cannot be started.
int launch_local_workers(int nproc, const std::vector<std::string>& argv, int master_port,
                         std::chrono::seconds timeout = std::chrono::seconds{0});

}  // namespace semfield
