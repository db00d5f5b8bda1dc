// Data-parallel training across processes on LibTorch's c10d (Gloo on the CPU, NCCL on CUDA
// devices in a build with RADPIPE_WITH_NCCL): where a process stands in
// its group (from torchrun's or Slurm's environment), the collectives training needs, each
// rank's share of an epoch, and `--nproc`'s local launcher. The c10d headers stay in
// distributed.cpp, so a port to another LibTorch release touches that file only.
#pragma once

#include <c10/core/Device.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace at {
class Tensor;
}

namespace radpipe::host {

// A process's place in a training group, as a launcher describes it.
struct GroupPlace {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_address;
  int master_port = 29500;
  std::string source; // which variables said so: "torchrun", "slurm"
};

// The group from RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (torchrun, `--nproc`, a
// Kubernetes job), else from SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID with the master address from
// MASTER_ADDR or the first node of SLURM_JOB_NODELIST; nullopt when neither names a group.
// Throws std::invalid_argument naming the variable that is malformed or missing.
std::optional<GroupPlace> group_place_from_environment();

// The first host of a Slurm node list: "gpu[07-09,12],cpu01" -> "gpu07".
std::string first_host_of_node_list(const std::string& node_list);

// The positions of `count` items (an epoch's shuffled order) that `rank` of `world_size` trains on:
// every world_size-th from `rank`, after padding the order with its first items to a multiple of
// world_size (`pad`, every item seen at least once) or cutting it down to one (`drop`).
std::vector<std::size_t> rank_share(std::size_t count, int rank, int world_size, bool pad);

// A c10d process group with a TCPStore on rank 0's master address: over Gloo for a CPU `device`,
// over NCCL for a CUDA one (which then becomes this thread's current device; throws
// std::runtime_error in a build without NCCL). Every collective waits at most `timeout`; a failed
// or timed-out one throws std::runtime_error naming this rank and the likely cause (another rank
// died or hangs). Collectives must be called in the same order on every rank. CPU tensors given to
// an NCCL group travel through the device and back.
class ProcessGroup {
 public:
  ProcessGroup(const GroupPlace& place, std::chrono::milliseconds timeout, const c10::Device& device = c10::Device(c10::kCPU));
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return place_.rank; }
  int size() const { return place_.world_size; }
  const GroupPlace& place() const { return place_; }
  const char* backend() const;

  // Sums every tensor in place across the group (CPU tensors, float or double).
  void all_reduce_sum(std::vector<at::Tensor>& tensors, const char* what);
  // Copies rank `root`'s tensors into everyone's.
  void broadcast(std::vector<at::Tensor>& tensors, int root, const char* what);
  // Every rank's `input` (same shape everywhere), in rank order.
  std::vector<at::Tensor> all_gather(const at::Tensor& input, const char* what);
  void barrier(const char* what);

 private:
  friend class GradientAverager;
  struct Impl;
  GroupPlace place_;
  std::unique_ptr<Impl> impl_;
};

// Averages gradients across the group: each rank's gradients are weighted by its share of the
// global batch (its images / all ranks' images), summed in flat buckets of about `bucket_bytes`
// (one all-reduce each), and written back. Parameters without a gradient count as zero and
// receive the average, so every rank's optimizer steps on the same values.
//
// With `overlap`, a hook on every parameter copies its gradient into its bucket as the backward
// pass produces it, and a bucket's all-reduce starts as soon as all of its gradients are in,
// while the backward pass goes on computing the earlier layers' (as DistributedDataParallel does).
// Buckets hold the parameters in reverse order, the order backward produces them, and start in
// bucket order on every rank, so that the ranks' collectives match. Without it, every bucket is
// all-reduced after the backward pass.
class GradientAverager {
 public:
  GradientAverager(ProcessGroup& group, std::vector<at::Tensor> parameters,
                   std::size_t bucket_bytes = std::size_t{25} << 20, bool overlap = false);
  ~GradientAverager();
  GradientAverager(const GradientAverager&) = delete;
  GradientAverager& operator=(const GradientAverager&) = delete;

  // Before the backward pass: this rank's weight in the global batch; arms the hooks.
  void begin(double local_weight, double global_weight);
  // After it: starts the buckets the hooks did not, waits for all, writes the averages to the
  // parameters' gradients.
  void finish();
  // begin() and finish() around no backward pass: the current gradients (zero for a rank
  // without a batch), all-reduced after the fact.
  void average(double local_weight, double global_weight);

  std::size_t buckets() const;
  // Of the last finish(): how many buckets had started before the backward pass ended.
  std::size_t buckets_started_during_backward() const;

 private:
  struct State;
  std::shared_ptr<State> state_; // shared with the hooks
};

// `radpipe train --nproc N`: runs N copies of this program with the same arguments, each with
// RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1 and MASTER_PORT (a free port) set, and waits
// for them. When one fails, the others are stopped and the exit status names the rank. Returns
// the exit code for radpipe.
int run_local_group(int processes, char** argv);

// Whether this process was started by run_local_group.
bool started_by_local_group();

// Test hook RADPIPE_TEST_FAIL_RANK_AT_STEP=RANK:STEP[:hang]: before its STEP-th optimisation
// step that rank kills itself (SIGKILL), as a crash would, or with `hang` waits for ever, as a
// stuck process would; nothing otherwise.
void maybe_fail_for_test(int rank, long long step);

} // namespace radpipe::host
