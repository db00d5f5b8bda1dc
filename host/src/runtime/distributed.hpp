// Data-parallel training across processes on LibTorch's c10d (Gloo): where a process stands in
// its group (from torchrun's or Slurm's environment), the collectives training needs, each
// rank's share of an epoch, and `--nproc`'s local launcher. The c10d headers stay in
// distributed.cpp, so a port to another LibTorch release touches that file only.
#pragma once

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

// A c10d process group over Gloo, with a TCPStore on rank 0's master address. Every collective
// waits at most `timeout`; a failed or timed-out one throws std::runtime_error naming this rank and
// the likely cause (another rank died or hangs). Collectives must be called in the same order on
// every rank.
class ProcessGroup {
 public:
  ProcessGroup(const GroupPlace& place, std::chrono::milliseconds timeout);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const { return place_.rank; }
  int size() const { return place_.world_size; }
  const GroupPlace& place() const { return place_; }

  // Sums every tensor in place across the group (CPU tensors, float or double).
  void all_reduce_sum(std::vector<at::Tensor>& tensors, const char* what);
  // Copies rank `root`'s tensors into everyone's.
  void broadcast(std::vector<at::Tensor>& tensors, int root, const char* what);
  // Every rank's `input` (same shape everywhere), in rank order.
  std::vector<at::Tensor> all_gather(const at::Tensor& input, const char* what);
  void barrier(const char* what);

 private:
  struct Impl;
  GroupPlace place_;
  std::unique_ptr<Impl> impl_;
};

// Averages gradients across the group: each rank's gradients are weighted by its share of the
// global batch (its images / all ranks' images), summed in flat buckets of about `bucket_bytes`
// (one all-reduce each), and written back. Parameters without a gradient count as zero and
// receive the average, so every rank's optimizer steps on the same values.
class GradientAverager {
 public:
  GradientAverager(ProcessGroup& group, std::vector<at::Tensor> parameters,
                   std::size_t bucket_bytes = std::size_t{25} << 20);
  ~GradientAverager();
  void average(double local_images, double global_images);

 private:
  ProcessGroup& group_;
  std::vector<std::vector<at::Tensor>> buckets_;
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
