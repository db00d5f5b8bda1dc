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
#include <torch/version.h>
#ifdef RADPIPE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "runtime/device.hpp"

#include <mutex>

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

// The common base of Gloo's and NCCL's process groups: c10d::ProcessGroup in LibTorch 1.13,
// c10d::Backend from 2.0 on (ProcessGroup became a dispatcher over backends).
#if TORCH_VERSION_MAJOR >= 2
using Collectives = c10d::Backend;
#else
using Collectives = c10d::ProcessGroup;
#endif

struct ProcessGroup::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<Collectives> collectives;
  std::chrono::milliseconds timeout;
  c10::Device device{c10::kCPU}; // where the collectives run: CPU (Gloo) or a CUDA device (NCCL)
  std::unique_ptr<DeviceScope> current_device;

  bool nccl() const { return device.is_cuda(); }
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

namespace {

c10::intrusive_ptr<Collectives> nccl_group(const c10::intrusive_ptr<c10d::Store>& store, const GroupPlace& place,
                                           std::chrono::milliseconds timeout) {
#ifdef RADPIPE_WITH_NCCL
  // Blocking waits make wait(timeout) return or throw on the host: a dead or hung rank then stops
  // the others with an error instead of leaving them waiting on the device (both spellings: 1.13
  // reads the first, 2.2+ the second). A value the user set is kept.
  ::setenv("NCCL_BLOCKING_WAIT", "1", 0);
  ::setenv("TORCH_NCCL_BLOCKING_WAIT", "1", 0);
  auto options = c10d::ProcessGroupNCCL::Options::create();
  options->timeout = timeout;
  return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, place.rank, place.world_size, options);
#else
  (void)store;
  (void)place;
  (void)timeout;
  throw std::runtime_error(
      "distributed training on CUDA devices needs NCCL, and this radpipe was built without it (`radpipe --version` "
      "says how it was built): configure with -DRADPIPE_CUDA=ON against a LibTorch that has NCCL, or train on "
      "device = \"cpu\" over Gloo");
#endif
}

} // namespace

const char* ProcessGroup::backend() const { return impl_->nccl() ? "NCCL" : "Gloo"; }

ProcessGroup::ProcessGroup(const GroupPlace& place, std::chrono::milliseconds timeout, const c10::Device& device)
    : place_(place), impl_(std::make_unique<Impl>()) {
  impl_->timeout = timeout;
  impl_->device = device;
  // Gloo and the TCPStore write to sockets without MSG_NOSIGNAL: when another rank dies, the next
  // write here would raise SIGPIPE and end this rank silently (exit 141) instead of failing the
  // collective with EPIPE, which names the cause. Python ignores SIGPIPE, so torchrun never sees it.
  std::signal(SIGPIPE, SIG_IGN);
#ifndef RADPIPE_WITH_NCCL
  if (device.is_cuda()) nccl_group({}, place, timeout); // throws: no NCCL in this build
#endif
  if (device.is_cuda()) impl_->current_device = std::make_unique<DeviceScope>(device);
  try {
    c10d::TCPStoreOptions options;
    options.port = static_cast<std::uint16_t>(place.master_port);
    options.isServer = place.rank == 0;
    options.numWorkers = static_cast<std::size_t>(place.world_size);
    options.waitWorkers = true;
    options.timeout = timeout;
    impl_->store = c10::make_intrusive<c10d::TCPStore>(place.master_address, options);
    if (impl_->nccl()) {
      impl_->collectives = nccl_group(impl_->store, place, timeout);
    } else {
      auto gloo_options = c10d::ProcessGroupGloo::Options::create(timeout);
      gloo_options->devices.push_back(gloo_device(place));
      impl_->collectives =
          c10::make_intrusive<c10d::ProcessGroupGloo>(impl_->store, place.rank, place.world_size, gloo_options);
    }
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

namespace {

// NCCL reduces device tensors only: the small CPU tensors of training's agreements travel through
// the group's device and back. Gloo takes them as they are.
struct OnBackend {
  std::vector<at::Tensor> tensors; // what the collective runs on
  std::vector<at::Tensor> originals;
  bool copied = false;

  OnBackend(std::vector<at::Tensor>& given, const c10::Device& device, bool nccl) : originals(given) {
    copied = nccl && std::any_of(given.begin(), given.end(), [](const at::Tensor& tensor) { return !tensor.is_cuda(); });
    if (!copied) {
      tensors = given;
      return;
    }
    for (const auto& tensor : given) tensors.push_back(tensor.to(device));
  }
  void copy_back() {
    if (!copied) return;
    for (std::size_t i = 0; i < tensors.size(); ++i) originals[i].copy_(tensors[i]);
  }
};

} // namespace

void ProcessGroup::all_reduce_sum(std::vector<at::Tensor>& tensors, const char* what) {
  OnBackend on_backend(tensors, impl_->device, impl_->nccl());
  try {
    impl_->collectives->allreduce(on_backend.tensors)->wait(impl_->timeout);
  } catch (const std::exception& error) {
    collective_failed(place_, what, error);
  }
  on_backend.copy_back();
}

void ProcessGroup::broadcast(std::vector<at::Tensor>& tensors, int root, const char* what) {
  OnBackend on_backend(tensors, impl_->device, impl_->nccl());
  try {
    c10d::BroadcastOptions options;
    options.rootRank = root;
    for (auto& tensor : on_backend.tensors) {
      std::vector<at::Tensor> one{tensor};
      impl_->collectives->broadcast(one, options)->wait(impl_->timeout);
    }
  } catch (const std::exception& error) {
    collective_failed(place_, what, error);
  }
  on_backend.copy_back();
}

std::vector<at::Tensor> ProcessGroup::all_gather(const at::Tensor& input, const char* what) {
  const at::Tensor local = impl_->nccl() ? input.to(impl_->device).contiguous() : input.contiguous();
  std::vector<std::vector<at::Tensor>> outputs(1);
  for (int rank = 0; rank < place_.world_size; ++rank) outputs[0].push_back(torch::empty_like(local));
  std::vector<at::Tensor> inputs{local};
  try {
    impl_->collectives->allgather(outputs, inputs)->wait(impl_->timeout);
  } catch (const std::exception& error) {
    collective_failed(place_, what, error);
  }
  if (impl_->nccl() && !input.is_cuda())
    for (auto& output : outputs[0]) output = output.to(input.device());
  return outputs[0];
}

void ProcessGroup::barrier(const char* what) {
  try {
    impl_->collectives->barrier()->wait(impl_->timeout);
  } catch (const std::exception& error) {
    collective_failed(place_, what, error);
  }
}

// ---- Gradients ----------------------------------------------------------------------------

struct GradientAverager::State {
  struct Bucket {
    std::vector<at::Tensor> parameters;
    std::vector<std::int64_t> offsets; // of each parameter's gradient in `flat`
    at::Tensor flat;                   // the bucket's gradients, one after the other
    std::vector<bool> ready;           // this step: the hook has copied the parameter's gradient
    std::size_t ready_count = 0;
    c10::intrusive_ptr<c10d::Work> work; // this step's all-reduce, once started
  };

  ProcessGroup* group = nullptr;
  bool overlap = false;
  std::vector<Bucket> buckets;
  std::vector<std::pair<at::Tensor, unsigned>> hooks; // parameter, handle
  std::mutex mutex;                                   // hooks may run on the autograd engine's threads
  bool armed = false;                                 // between begin() and finish()
  double scale = 1.0;                                 // this rank's share of the global batch
  std::size_t next_to_start = 0;                      // buckets start in order, the same on every rank
  std::size_t started_during_backward = 0;
  std::exception_ptr failure; // a collective that failed to start inside a hook

  void copy_in(Bucket& bucket, std::size_t slot, const at::Tensor& gradient) {
    torch::NoGradGuard no_gradients;
    auto target = bucket.flat.narrow(0, bucket.offsets[slot], bucket.parameters[slot].numel());
    if (gradient.defined())
      target.copy_(gradient.reshape({-1})).mul_(scale);
    else
      target.zero_();
    bucket.ready[slot] = true;
    ++bucket.ready_count;
  }

  void start(Bucket& bucket) {
    std::vector<at::Tensor> tensors{bucket.flat};
    bucket.work = group->impl_->collectives->allreduce(tensors);
  }

  // Starts every bucket, in order, whose gradients are all in.
  void start_ready() {
    while (next_to_start < buckets.size() &&
           buckets[next_to_start].ready_count == buckets[next_to_start].parameters.size())
      start(buckets[next_to_start++]);
  }

  // The hook of parameter `slot` of bucket `index`, called with its gradient of this backward pass.
  void on_gradient(std::size_t index, std::size_t slot, const at::Tensor& gradient) {
    std::lock_guard lock(mutex);
    if (!armed || failure) return;
    Bucket& bucket = buckets[index];
    if (bucket.ready[slot] || bucket.work) return; // a second gradient in one pass: finish() takes .grad
    try {
      copy_in(bucket, slot, gradient);
      const std::size_t before = next_to_start;
      start_ready();
      started_during_backward += next_to_start - before;
    } catch (...) {
      failure = std::current_exception(); // thrown by finish(), on the training thread
    }
  }
};

GradientAverager::GradientAverager(ProcessGroup& group, std::vector<at::Tensor> parameters,
                                   std::size_t bucket_bytes, bool overlap)
    : state_(std::make_shared<State>()) {
  State& state = *state_;
  state.group = &group;
  state.overlap = overlap;
  // Backward produces the last layers' gradients first: buckets follow the parameters backwards.
  std::reverse(parameters.begin(), parameters.end());
  std::size_t bytes = bucket_bytes;
  for (auto& parameter : parameters) {
    const auto size = static_cast<std::size_t>(parameter.numel()) * parameter.element_size();
    const bool fits = !state.buckets.empty() && bytes + size <= bucket_bytes &&
                      state.buckets.back().parameters.front().scalar_type() == parameter.scalar_type() &&
                      state.buckets.back().parameters.front().device() == parameter.device();
    if (!fits) {
      state.buckets.emplace_back();
      bytes = 0;
    }
    auto& bucket = state.buckets.back();
    bucket.offsets.push_back(bucket.parameters.empty() ? 0 : bucket.offsets.back() + bucket.parameters.back().numel());
    bucket.parameters.push_back(parameter);
    bytes += size;
  }
  for (auto& bucket : state.buckets) {
    const auto& last = bucket.parameters.back();
    bucket.flat = torch::zeros({bucket.offsets.back() + last.numel()}, last.options().requires_grad(false));
    bucket.ready.assign(bucket.parameters.size(), false);
  }
  if (!overlap) return;
  const std::weak_ptr<State> weak = state_;
  for (std::size_t index = 0; index < state.buckets.size(); ++index)
    for (std::size_t slot = 0; slot < state.buckets[index].parameters.size(); ++slot) {
      auto& parameter = state.buckets[index].parameters[slot];
      const unsigned handle = parameter.register_hook([weak, index, slot](const at::Tensor& gradient) {
        if (auto alive = weak.lock()) alive->on_gradient(index, slot, gradient);
      });
      state.hooks.emplace_back(parameter, handle);
    }
}

GradientAverager::~GradientAverager() {
  for (auto& [parameter, handle] : state_->hooks) parameter.remove_hook(handle);
}

std::size_t GradientAverager::buckets() const { return state_->buckets.size(); }

std::size_t GradientAverager::buckets_started_during_backward() const { return state_->started_during_backward; }

void GradientAverager::begin(double local_weight, double global_weight) {
  std::lock_guard lock(state_->mutex);
  State& state = *state_;
  state.scale = local_weight / global_weight;
  state.next_to_start = 0;
  state.started_during_backward = 0;
  state.failure = nullptr;
  for (auto& bucket : state.buckets) {
    bucket.ready.assign(bucket.parameters.size(), false);
    bucket.ready_count = 0;
    bucket.work.reset();
  }
  state.armed = state.overlap;
}

void GradientAverager::finish() {
  State& state = *state_;
  {
    std::lock_guard lock(state.mutex);
    state.armed = false;
  }
  const ProcessGroup& group = *state.group;
  try {
    if (state.failure) std::rethrow_exception(state.failure);
    // What the hooks did not take (no overlap, parameters without a gradient this step, a rank
    // without a batch): the gradients as they stand, zero where there is none.
    for (auto& bucket : state.buckets) {
      if (bucket.work) continue;
      for (std::size_t slot = 0; slot < bucket.parameters.size(); ++slot)
        if (!bucket.ready[slot]) state.copy_in(bucket, slot, bucket.parameters[slot].grad());
    }
    state.start_ready();
    for (auto& bucket : state.buckets) bucket.work->wait(group.impl_->timeout);
  } catch (const std::exception& error) {
    collective_failed(group.place(), "the all-reduce of gradients", error);
  }
  torch::NoGradGuard no_gradients;
  for (auto& bucket : state.buckets) {
    bucket.work.reset();
    for (std::size_t slot = 0; slot < bucket.parameters.size(); ++slot) {
      auto& parameter = bucket.parameters[slot];
      if (!parameter.grad().defined()) parameter.mutable_grad() = torch::zeros_like(parameter);
      parameter.grad().copy_(bucket.flat.narrow(0, bucket.offsets[slot], parameter.numel()).view_as(parameter));
    }
  }
}

void GradientAverager::average(double local_weight, double global_weight) {
  begin(local_weight, global_weight);
  finish();
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
