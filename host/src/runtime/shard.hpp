// Sharding a run across processes or machines: each study goes to exactly one shard, chosen by a
// stable hash of its study id, so that shards never split a study and agree on every machine.
#pragma once

#include <radpipe/sample.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace radpipe::host {

struct Shard {
  std::uint64_t index = 0; // 0-based
  std::uint64_t count = 1; // 1: the whole run

  bool holds(const SampleInfo& info) const;
  std::string text() const; // "I/N"
};

// FNV-1a, 64 bits: the same on every platform and build.
std::uint64_t stable_hash(const std::string& text);

// "I/N" with 0 <= I < N; throws std::invalid_argument saying what is wrong.
Shard parse_shard(const std::string& text);

// The shard a cluster scheduler assigns: Slurm job arrays (SLURM_ARRAY_TASK_ID with
// SLURM_ARRAY_TASK_COUNT, offset by SLURM_ARRAY_TASK_MIN when arrays start above 0) or Kubernetes
// Indexed Jobs (JOB_COMPLETION_INDEX, with `count` from --shard-count). nullopt: none of them set.
std::optional<Shard> shard_from_environment(std::uint64_t count);

} // namespace radpipe::host
