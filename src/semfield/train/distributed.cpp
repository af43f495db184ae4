// Data-parallel training on c10d's Gloo process group: rendezvous, packed collectives, the local launcher.
#include "semfield/train/distributed.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include "semfield/core/error.h"
#include "semfield/core/log.h"

#ifndef USE_C10D_GLOO
#error "distributed.cpp needs USE_C10D_GLOO for c10d::ProcessGroupGloo (LibTorch's CMake target torch_cpu defines it)"
#endif

extern char** environ;

namespace semfield {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// The integer in `env[name]`, or `fallback` when it is unset or empty; UsageError naming the variable otherwise.
int distributed_env_int(const std::map<std::string, std::string>& env, const char* name, int fallback, int min_value,
                        int max_value) {
  const auto it = env.find(name);
  if (it == env.end() || it->second.empty()) return fallback;
  const std::string& text = it->second;
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min_value || value > max_value)
    fail_usage("environment variable {}: expected an integer in {}..{}, got '{}'", name, min_value, max_value, text);
  return value;
}

/// The message of an exception from c10d or Gloo, without c10's C++ backtrace.
std::string distributed_error_text(const std::exception& e) {
  if (const auto* c10_error = dynamic_cast<const c10::Error*>(&e)) return c10_error->what_without_backtrace();
  return e.what();
}

bool is_loopback_address(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

/// The Gloo transport devices: the named interfaces, else the loopback one for a loopback master (a one-machine
/// job), else the address this machine's hostname resolves to (c10d's default, as torch.distributed does).
std::vector<std::shared_ptr<::gloo::transport::Device>> gloo_devices(const DistributedOptions& options) {
  std::vector<std::shared_ptr<::gloo::transport::Device>> devices;
  size_t begin = 0;
  while (begin < options.interface.size()) {
    size_t end = options.interface.find(',', begin);
    if (end == std::string::npos) end = options.interface.size();
    if (end > begin) devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(
                         options.interface.substr(begin, end - begin)));
    begin = end + 1;
  }
  if (!devices.empty()) return devices;
  if (is_loopback_address(options.master_addr))
    devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(options.master_addr));
  else
    devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  return devices;
}

/// Copies `tensors` (one dtype) into the flat buffer `bucket` [sum of numels], reallocating it when it does not
/// fit; returns the filled part.
at::Tensor pack_into_bucket(const std::vector<at::Tensor>& tensors, at::Tensor& bucket) {
  int64_t numel = 0;
  std::vector<at::Tensor> flat;
  flat.reserve(tensors.size());
  for (const at::Tensor& t : tensors) {
    numel += t.numel();
    flat.push_back(t.reshape({-1}));
  }
  const auto dtype = tensors.front().scalar_type();
  if (!bucket.defined() || bucket.scalar_type() != dtype || bucket.numel() < numel)
    bucket = at::empty({numel}, at::TensorOptions().dtype(dtype));
  at::Tensor filled = bucket.narrow(0, 0, numel);
  at::cat_out(filled, flat, 0);
  return filled;
}

void unpack_from_bucket(const at::Tensor& filled, std::vector<at::Tensor>& tensors) {
  int64_t offset = 0;
  for (at::Tensor& t : tensors) {
    const int64_t n = t.numel();
    t.copy_(filled.narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

}  // namespace

DistributedOptions distributed_options_from_env(const std::map<std::string, std::string>& env) {
  DistributedOptions options;
  if (const auto it = env.find("MASTER_ADDR"); it != env.end() && !it->second.empty()) options.master_addr = it->second;
  options.master_port = distributed_env_int(env, "MASTER_PORT", options.master_port, 1, 65535);
  options.world_size = distributed_env_int(env, "WORLD_SIZE", options.world_size, 1, 1 << 20);
  options.rank = distributed_env_int(env, "RANK", options.rank, 0, 1 << 20);
  options.local_world_size = distributed_env_int(env, "LOCAL_WORLD_SIZE", options.local_world_size, 1, 1 << 20);
  if (options.rank >= options.world_size)
    fail_usage("environment variable RANK: {} is out of range for WORLD_SIZE {} (expected 0..{})", options.rank,
               options.world_size, options.world_size - 1);
  if (const auto it = env.find("GLOO_SOCKET_IFNAME"); it != env.end()) options.interface = it->second;
  return options;
}

DistributedOptions distributed_options_from_env() {
  std::map<std::string, std::string> env;
  for (const char* name : {"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_WORLD_SIZE", "GLOO_SOCKET_IFNAME"})
    if (const char* value = std::getenv(name)) env[name] = value;
  return distributed_options_from_env(env);
}

// ----------------------------------------------------------------------------------------------------------------
// ProcessGroup

struct ProcessGroup::Impl {
  // Declared before the group, so the group (which exchanged its peers' addresses through it) goes first.
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;
  std::chrono::milliseconds timeout{0};
  at::Tensor bucket;  ///< reused flat buffer of all_reduce_mean / broadcast

  /// Runs one collective to completion; an error (a rank gone, the timeout) becomes an Error naming `what`.
  void run(const char* what, int rank, int world_size,
           const std::function<c10::intrusive_ptr<c10d::Work>()>& start) const {
    try {
      start()->wait(timeout);
    } catch (const std::exception& e) {
      throw Error(fmt::format("distributed {} failed on rank {} of {} (did another rank exit?): {}", what, rank,
                              world_size, distributed_error_text(e)));
    }
  }
};

ProcessGroup::ProcessGroup(const DistributedOptions& options)
    : m_rank(options.rank), m_world_size(options.world_size) {
  if (options.world_size < 1) fail_usage("distributed: world size must be >= 1, got {}", options.world_size);
  if (options.rank < 0 || options.rank >= options.world_size)
    fail_usage("distributed: rank {} is out of range for world size {} (expected 0..{})", options.rank,
               options.world_size, options.world_size - 1);
  if (options.world_size == 1) return;
  if (options.master_port < 1 || options.master_port > 65535)
    fail_usage("distributed: master port must be in 1..65535, got {}", options.master_port);
  if (options.timeout.count() <= 0)
    fail_usage("distributed: timeout must be positive, got {} s", options.timeout.count());

  m_impl = std::make_unique<Impl>();
  m_impl->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(options.timeout);
  const std::string where = fmt::format("{}:{}", options.master_addr, options.master_port);
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(options.master_port);
    store_options.isServer = options.rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(options.world_size);
    // LibTorch 1.13's own wait for the workers gives up silently at the timeout; the count below fails loudly.
    store_options.waitWorkers = false;
    store_options.timeout = m_impl->timeout;
    m_impl->store = c10::make_intrusive<c10d::TCPStore>(options.master_addr, store_options);
  } catch (const std::exception& e) {
    throw Error(fmt::format("distributed: rank {} of {} could not reach the rendezvous store at {} within {} s "
                            "(rank 0 serves it: is MASTER_ADDR reachable and MASTER_PORT free there and open?): {}",
                            options.rank, options.world_size, where, options.timeout.count(),
                            distributed_error_text(e)));
  }
  // Every rank checks in; rank 0 waits until all have, so a missing rank is named here rather than as a Gloo
  // socket timeout (the other ranks find out from Gloo's own rendezvous, bounded by the same timeout).
  const std::string joined_key = "semfield/joined";
  int64_t joined = 0;
  try {
    joined = m_impl->store->add(joined_key, 1);
    const auto deadline = Clock::now() + options.timeout;
    while (options.rank == 0 && joined < options.world_size && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      joined = m_impl->store->add(joined_key, 0);
    }
  } catch (const std::exception& e) {
    throw Error(fmt::format("distributed: rank {} of {} lost the rendezvous store at {}: {}", options.rank,
                            options.world_size, where, distributed_error_text(e)));
  }
  if (options.rank == 0 && joined < options.world_size)
    throw Error(fmt::format("distributed: only {} of {} ranks joined the rendezvous at {} within {} s (are all {} "
                            "processes started, with the same MASTER_ADDR, MASTER_PORT and WORLD_SIZE?)",
                            joined, options.world_size, where, options.timeout.count(), options.world_size));
  try {
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(m_impl->timeout);
    gloo_options->devices = gloo_devices(options);
    m_impl->group =
        c10::make_intrusive<c10d::ProcessGroupGloo>(m_impl->store, options.rank, options.world_size, gloo_options);
  } catch (const std::exception& e) {
    throw Error(fmt::format("distributed: rank {} of {} could not connect to the other ranks (rendezvous at {}, "
                            "interface '{}'): {}",
                            options.rank, options.world_size, where, options.interface, distributed_error_text(e)));
  }
}

ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::all_reduce_mean(std::vector<at::Tensor>& tensors) {
  if (tensors.empty()) return;
  for (size_t i = 0; i < tensors.size(); ++i) {
    SEMFIELD_ASSERT(tensors[i].defined(), fmt::format("all_reduce_mean: tensor {} is undefined", i));
    SEMFIELD_ASSERT(tensors[i].scalar_type() == tensors.front().scalar_type() &&
                        at::isFloatingType(tensors[i].scalar_type()),
                    fmt::format("all_reduce_mean: tensor {} is {}, expected one floating dtype ({})", i,
                                c10::toString(tensors[i].scalar_type()), c10::toString(tensors.front().scalar_type())));
  }
  if (m_world_size == 1) return;
  const auto start = Clock::now();
  at::NoGradGuard no_grad;
  // One contiguous tensor is reduced where it lies; a list is packed so it costs one allreduce, not one per tensor.
  const bool in_place = tensors.size() == 1 && tensors.front().is_contiguous();
  at::Tensor flat = in_place ? tensors.front().view({-1}) : pack_into_bucket(tensors, m_impl->bucket);
  std::vector<at::Tensor> buffers{flat};
  m_impl->run("all_reduce", m_rank, m_world_size, [&] { return m_impl->group->allreduce(buffers); });
  flat.div_(m_world_size);
  if (!in_place) unpack_from_bucket(flat, tensors);
  const double seconds = seconds_since(start);
  m_stats.n_all_reduces += 1;
  m_stats.all_reduce_bytes += flat.numel() * static_cast<int64_t>(flat.element_size());
  m_stats.all_reduce_seconds += seconds;
  m_stats.last_all_reduce_seconds = seconds;
}

void ProcessGroup::average_gradients(const std::vector<at::Tensor>& params) {
  std::vector<at::Tensor> grads;
  grads.reserve(params.size());
  for (const at::Tensor& p : params) {
    at::Tensor& grad = const_cast<at::Tensor&>(p).mutable_grad();
    if (!grad.defined()) grad = at::zeros_like(p);
    grads.push_back(grad);
  }
  all_reduce_mean(grads);
}

void ProcessGroup::broadcast(std::vector<at::Tensor>& tensors, int root) {
  if (root < 0 || root >= m_world_size)
    fail_usage("distributed broadcast: root rank {} is out of range for world size {}", root, m_world_size);
  for (size_t i = 0; i < tensors.size(); ++i)
    SEMFIELD_ASSERT(tensors[i].defined(), fmt::format("broadcast: tensor {} is undefined", i));
  if (m_world_size == 1 || tensors.empty()) return;
  const auto start = Clock::now();
  at::NoGradGuard no_grad;
  // One flat buffer per dtype (usually one: the float parameters), in the order of first appearance.
  std::vector<at::ScalarType> dtypes;
  for (const at::Tensor& t : tensors)
    if (std::find(dtypes.begin(), dtypes.end(), t.scalar_type()) == dtypes.end()) dtypes.push_back(t.scalar_type());
  for (const at::ScalarType dtype : dtypes) {
    std::vector<at::Tensor> group;
    for (const at::Tensor& t : tensors)
      if (t.scalar_type() == dtype) group.push_back(t);
    at::Tensor flat = pack_into_bucket(group, m_impl->bucket);
    std::vector<at::Tensor> buffers{flat};
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    m_impl->run("broadcast", m_rank, m_world_size, [&] { return m_impl->group->broadcast(buffers, opts); });
    if (m_rank != root) unpack_from_bucket(flat, group);
  }
  m_stats.n_broadcasts += 1;
  m_stats.broadcast_seconds += seconds_since(start);
}

void ProcessGroup::barrier() {
  if (m_world_size == 1) return;
  m_impl->run("barrier", m_rank, m_world_size, [&] { return m_impl->group->barrier(); });
}

// ----------------------------------------------------------------------------------------------------------------
// Local launcher

int free_tcp_port(const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error(fmt::format("free_tcp_port: socket(): {}", std::strerror(errno)));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = 0;
  if (::inet_pton(AF_INET, host.c_str(), &address.sin_addr) != 1) {
    ::close(fd);
    fail_usage("free_tcp_port: '{}' is not an IPv4 address", host);
  }
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string reason = std::strerror(errno);
    ::close(fd);
    throw Error(fmt::format("free_tcp_port: no free port on {}: {}", host, reason));
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

namespace {

/// Exit status of a reaped worker as a shell reports it: the exit code, or 128 + the signal.
int worker_exit_status(int wait_status) {
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return 1;
}

/// SIGTERM to every live worker, SIGKILL to those still alive 10 s later; reaps them all.
void stop_local_workers(std::vector<pid_t>& live) {
  for (const pid_t pid : live) ::kill(pid, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!live.empty()) {
    for (size_t i = 0; i < live.size();) {
      int status = 0;
      if (::waitpid(live[i], &status, WNOHANG) != 0) {  // reaped, or not our child any more
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;
      }
    }
    if (live.empty()) break;
    if (Clock::now() > deadline) {
      for (const pid_t pid : live) ::kill(pid, SIGKILL);
      for (const pid_t pid : live) ::waitpid(pid, nullptr, 0);
      live.clear();
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

int launch_local_workers(int nproc, const std::vector<std::string>& argv, int master_port,
                         std::chrono::seconds timeout) {
  if (nproc < 1) fail_usage("--nproc: expected a number of processes >= 1, got {}", nproc);
  if (argv.empty()) fail_usage("launch_local_workers: argv is empty (it needs at least the program name)");
  if (master_port <= 0) master_port = free_tcp_port("127.0.0.1");
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error(fmt::format("launch_local_workers: cannot read /proc/self/exe: {}", ec.message()));

  // The launcher's environment, less the variables each worker gets its own value of.
  const std::set<std::string> replaced{"MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK",
                                       "LOCAL_WORLD_SIZE"};
  std::vector<std::string> base_env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string text = *entry;
    if (replaced.count(text.substr(0, text.find('='))) == 0) base_env.push_back(text);
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);

  std::vector<pid_t> live;
  std::map<pid_t, int> rank_of;
  for (int rank = 0; rank < nproc; ++rank) {
    std::vector<std::string> env = base_env;
    env.push_back("MASTER_ADDR=127.0.0.1");
    env.push_back(fmt::format("MASTER_PORT={}", master_port));
    env.push_back(fmt::format("WORLD_SIZE={}", nproc));
    env.push_back(fmt::format("RANK={}", rank));
    env.push_back(fmt::format("LOCAL_RANK={}", rank));
    env.push_back(fmt::format("LOCAL_WORLD_SIZE={}", nproc));
    std::vector<char*> envp;
    for (const std::string& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, exe.c_str(), nullptr, nullptr, args.data(), envp.data());
    if (rc != 0) {
      stop_local_workers(live);
      throw Error(fmt::format("launch_local_workers: cannot start rank {} ({}): {}", rank, exe.string(),
                              std::strerror(rc)));
    }
    live.push_back(pid);
    rank_of[pid] = rank;
  }
  log::info("launched {} workers of {} (rendezvous 127.0.0.1:{})", nproc, exe.filename().string(), master_port);

  const auto start = Clock::now();
  while (!live.empty()) {
    for (size_t i = 0; i < live.size();) {
      int status = 0;
      const pid_t pid = live[i];
      const pid_t reaped = ::waitpid(pid, &status, WNOHANG);
      if (reaped == 0) {
        ++i;
        continue;
      }
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
      const int code = reaped < 0 ? 1 : worker_exit_status(status);
      if (code != 0) {
        log::error("rank {} (pid {}) failed with exit status {}; stopping the other {} worker(s)", rank_of[pid], pid,
                   code, live.size());
        stop_local_workers(live);
        return code;
      }
    }
    if (!live.empty() && timeout.count() > 0 && Clock::now() - start > timeout) {
      log::error("the {} workers did not finish within {} s; stopping them", nproc, timeout.count());
      stop_local_workers(live);
      return 124;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return 0;
}

}  // namespace semfield
