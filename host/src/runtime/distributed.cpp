#include "runtime/distributed.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace radpipe::host {

namespace {

const char* variable(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

int integer_variable(const char* name, int minimum) {
  const char* text = variable(name);
  if (text == nullptr) throw std::invalid_argument(fmt::format("{} is not set", name));
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || value < minimum || value > 1 << 20)
    throw std::invalid_argument(
        fmt::format("{}={} is not a whole number of at least {}", name, text, minimum));
  return static_cast<int>(value);
}

int master_port() {
  return variable("MASTER_PORT") ? integer_variable("MASTER_PORT", 1) : 29500;
}

void check_place(const GroupPlace& place, const char* rank_name, const char* size_name) {
  if (place.rank >= place.world_size)
    throw std::invalid_argument(
        fmt::format("{}={} is not below {}={}", rank_name, place.rank, size_name, place.world_size));
  if (place.master_port > 65535)
    throw std::invalid_argument(fmt::format("MASTER_PORT={} is not a port", place.master_port));
}

} // namespace

std::string first_host_of_node_list(const std::string& node_list) {
  // The first entry ends at the first comma outside brackets; a bracket holds ranges of numbers.
  std::size_t depth = 0, end = 0;
  for (; end < node_list.size(); ++end) {
    if (node_list[end] == '[')
      ++depth;
    else if (node_list[end] == ']' && depth > 0)
      --depth;
    else if (node_list[end] == ',' && depth == 0)
      break;
  }
  const std::string first = node_list.substr(0, end);
  const auto open = first.find('[');
  if (open == std::string::npos) return first;
  const std::string prefix = first.substr(0, open);
  std::string range = first.substr(open + 1);
  range = range.substr(0, range.find_first_of(",]"));
  return prefix + range.substr(0, range.find('-')); // zero padding kept: "07-09" -> "07"
}

std::optional<GroupPlace> group_place_from_environment() {
  GroupPlace place;
  if (variable("WORLD_SIZE") != nullptr || variable("RANK") != nullptr) {
    place.source = "torchrun";
    place.world_size = integer_variable("WORLD_SIZE", 1);
    place.rank = integer_variable("RANK", 0);
    place.local_rank = variable("LOCAL_RANK") ? integer_variable("LOCAL_RANK", 0) : place.rank;
    place.master_address = variable("MASTER_ADDR") ? variable("MASTER_ADDR") : "";
    place.master_port = master_port();
    if (place.world_size > 1 && place.master_address.empty())
      throw std::invalid_argument("WORLD_SIZE is set but MASTER_ADDR is not");
    check_place(place, "RANK", "WORLD_SIZE");
    return place;
  }
  if (variable("SLURM_PROCID") != nullptr && variable("SLURM_NTASKS") != nullptr) {
    place.source = "slurm";
    place.world_size = integer_variable("SLURM_NTASKS", 1);
    place.rank = integer_variable("SLURM_PROCID", 0);
    place.local_rank = variable("SLURM_LOCALID") ? integer_variable("SLURM_LOCALID", 0) : 0;
    if (const char* address = variable("MASTER_ADDR"))
      place.master_address = address;
    else if (const char* nodes = variable("SLURM_JOB_NODELIST"))
      place.master_address = first_host_of_node_list(nodes);
    else if (const char* nodes_old = variable("SLURM_NODELIST"))
      place.master_address = first_host_of_node_list(nodes_old);
    place.master_port = master_port();
    if (place.world_size > 1 && place.master_address.empty())
      throw std::invalid_argument(
          "SLURM_NTASKS is set but neither MASTER_ADDR nor SLURM_JOB_NODELIST names the master");
    check_place(place, "SLURM_PROCID", "SLURM_NTASKS");
    return place;
  }
  return std::nullopt;
}

std::vector<std::size_t> rank_share(std::size_t count, int rank, int world_size, bool pad) {
  const auto world = static_cast<std::size_t>(world_size);
  const std::size_t total = pad ? (count + world - 1) / world * world : count / world * world;
  std::vector<std::size_t> positions;
  if (count == 0) return positions;
  for (std::size_t position = static_cast<std::size_t>(rank); position < total; position += world)
    positions.push_back(position % count);
  return positions;
}

// ---- The process group --------------------------------------------------------------------

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> gloo;
  std::chrono::milliseconds timeout;
};

namespace {

std::shared_ptr<::gloo::transport::Device> gloo_device(const GroupPlace& place) {
  if (const char* interface = std::getenv("GLOO_SOCKET_IFNAME"))
    return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  if (place.master_address == "127.0.0.1" || place.master_address == "localhost")
    return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}

} // namespace

ProcessGroup::ProcessGroup(const GroupPlace& place, std::chrono::milliseconds timeout)
    : place_(place), impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(place.master_port);
    options.isServer = place.rank == 0;
    options.numWorkers = static_cast<std::size_t>(place.world_size);
    options.waitWorkers = true;
    options.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(place.master_address, options);
    auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
    gloo_options->devices.push_back(gloo_device(place));
    impl_->gloo =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, place.rank, place.world_size, gloo_options);
  } catch (const std::exception& error) {
    throw std::runtime_error(fmt::format(
        "rank {} of {} cannot join the training group at {}:{} (within {} s): {}", place.rank,
        place.world_size, place.master_address, place.master_port, timeout.count() / 1000, error.what()));
  }
}

ProcessGroup::~ProcessGroup() = default;

namespace {

// c10d's messages name Gloo's internals; this one says what the user can do.
[[noreturn]] void collective_failed(const GroupPlace& place, const char* what, const std::exception& error) {
  std::string reason = error.what();
  if (const auto newline = reason.find('\n'); newline != std::string::npos)
    reason.resize(newline); // c10d appends a C++ trace
  throw std::runtime_error(
      fmt::format("distributed training: rank {} of {}: {} failed: {}. Another rank most likely died or "
                  "hangs: see its log (or the launcher's message naming it)",
                  place.rank, place.world_size, what, reason));
}

} // namespace

void ProcessGroup::all_reduce_sum(std::vector<at::Tensor>& tensors, const char* what) {
  try {
    impl_->gloo->allreduce(tensors)->wait(impl_->timeout);
  } catch (const std::exception& error) {
    collective_failed(place_, what, error);
  }
}

void ProcessGroup::broadcast(std::vector<at::Tensor>& tensors, int root, const char* what) {
  try {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    for (auto& tensor : tensors) {
      std::vector<at::Tensor> one{tensor};
      impl_->gloo->broadcast(one, options)->wait(impl_->timeout);
    }
  } catch (const std::exception& error) {
    collective_failed(place_, what, error);
  }
}

std::vector<at::Tensor> ProcessGroup::all_gather(const at::Tensor& input, const char* what) {
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int rank = 0; rank < place_.world_size; ++rank) outputs[0].push_back(torch::empty_like(input));
  std::vector<at::Tensor> inputs{input.contiguous()};
  try {
    impl_->gloo->allgather(outputs, inputs)->wait(impl_->timeout);
  } catch (const std::exception& error) {
    collective_failed(place_, what, error);
  }
  return outputs[0];
}

void ProcessGroup::barrier(const char* what) {
  try {
    impl_->gloo->barrier()->wait(impl_->timeout);
  } catch (const std::exception& error) {
    collective_failed(place_, what, error);
  }
}

// ---- Gradients ----------------------------------------------------------------------------

GradientAverager::GradientAverager(ProcessGroup& group, std::vector<at::Tensor> parameters,
                                   std::size_t bucket_bytes)
    : group_(group) {
  std::size_t bytes = bucket_bytes;
  for (auto& parameter : parameters) {
    const auto size = static_cast<std::size_t>(parameter.numel()) * parameter.element_size();
    if (buckets_.empty() || bytes + size > bucket_bytes) {
      buckets_.emplace_back();
      bytes = 0;
    }
    buckets_.back().push_back(parameter);
    bytes += size;
  }
}

GradientAverager::~GradientAverager() = default;

void GradientAverager::average(double local_images, double global_images) {
  torch::NoGradGuard no_gradients;
  const double scale = local_images / global_images;
  for (auto& bucket : buckets_) {
    std::vector<at::Tensor> pieces;
    for (auto& parameter : bucket) {
      if (!parameter.grad().defined()) parameter.mutable_grad() = torch::zeros_like(parameter);
      pieces.push_back(parameter.grad().reshape({-1}));
    }
    std::vector<at::Tensor> flat{torch::cat(pieces).mul_(scale)};
    group_.all_reduce_sum(flat, "the all-reduce of gradients");
    std::int64_t offset = 0;
    for (auto& parameter : bucket) {
      const auto count = parameter.numel();
      parameter.grad().copy_(flat[0].narrow(0, offset, count).view_as(parameter));
      offset += count;
    }
  }
}

// ---- The local launcher -------------------------------------------------------------------

namespace {

constexpr const char* kLaunchedMarker = "RADPIPE_LOCAL_GROUP";

int free_local_port() {
  const int socket_descriptor = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (socket_descriptor < 0) throw std::runtime_error("--nproc: cannot open a socket to find a free port");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  const bool found = ::bind(socket_descriptor, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                     ::getsockname(socket_descriptor, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  ::close(socket_descriptor);
  if (!found) throw std::runtime_error("--nproc: cannot find a free port on 127.0.0.1");
  return ntohs(address.sin_port);
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return fmt::format("exited with status {}", WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  return "stopped";
}

} // namespace

bool started_by_local_group() {
  return std::getenv(kLaunchedMarker) != nullptr;
}

int run_local_group(int processes, char** argv) {
  const int port = free_local_port();
  spdlog::info("--nproc {}: starting {} training processes on 127.0.0.1:{}", processes, processes, port);
  std::vector<pid_t> children(static_cast<std::size_t>(processes), -1);
  const pid_t launcher = ::getpid();
  for (int rank = 0; rank < processes; ++rank) {
    const pid_t child = ::fork();
    if (child < 0)
      throw std::runtime_error(fmt::format("--nproc: cannot start rank {}: {}", rank, std::strerror(errno)));
    if (child == 0) {
      // The rank stops when the launcher dies, so that no orphan waits on its collectives.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != launcher) ::_exit(127);
      ::setenv("RANK", std::to_string(rank).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(processes).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(processes).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      ::setenv(kLaunchedMarker, "1", 1);
      ::execv("/proc/self/exe", argv);
      std::fprintf(stderr, "--nproc: cannot run /proc/self/exe for rank %d: %s\n", rank,
                   std::strerror(errno));
      ::_exit(127);
    }
    children[static_cast<std::size_t>(rank)] = child;
  }
  auto rank_of = [&](pid_t pid) {
    for (std::size_t rank = 0; rank < children.size(); ++rank)
      if (children[rank] == pid) return static_cast<int>(rank);
    return -1;
  };
  int running = processes, exit_code = 0;
  bool stopping = false;
  while (running > 0) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    const int rank = rank_of(pid);
    if (rank < 0) continue;
    children[static_cast<std::size_t>(rank)] = -1;
    --running;
    const bool failed = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
    if (!failed || stopping) continue;
    // The first failure: the others cannot go on without this rank; stop them.
    spdlog::error("--nproc: rank {} (pid {}) {}; stopping the other {} rank{}", rank, pid,
                  describe_status(status), running, running == 1 ? "" : "s");
    exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 4;
    stopping = true;
    for (const pid_t other : children)
      if (other > 0) ::kill(other, SIGTERM);
    std::thread([children] {
      std::this_thread::sleep_for(std::chrono::seconds(10));
      for (const pid_t other : children)
        if (other > 0)
          ::kill(other, SIGKILL); // a rank stuck in a collective ignores nothing, but may not exit promptly
    }).detach();
  }
  if (exit_code == 0) spdlog::info("--nproc: all {} ranks finished", processes);
  return exit_code;
}

void maybe_fail_for_test(int rank, long long step) {
  struct Target {
    int rank = -1;
    long long step = -1;
    bool hang = false;
  };
  static const Target target = [] {
    Target parsed;
    const char* text = std::getenv("RADPIPE_TEST_FAIL_RANK_AT_STEP");
    char mode[8] = {};
    if (text == nullptr || std::sscanf(text, "%d:%lld:%7s", &parsed.rank, &parsed.step, mode) < 2)
      return Target{};
    parsed.hang = std::strcmp(mode, "hang") == 0;
    return parsed;
  }();
  if (target.rank != rank || target.step != step) return;
  if (!target.hang) ::kill(::getpid(), SIGKILL);
  spdlog::warn("RADPIPE_TEST_FAIL_RANK_AT_STEP: rank {} hangs before step {}", rank, step);
  for (;;) ::pause();
}

} // namespace radpipe::host
