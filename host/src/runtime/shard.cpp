#include "runtime/shard.hpp"

#include <cstdlib>
#include <stdexcept>

namespace radpipe::host {
namespace {

std::uint64_t parse_count(const std::string& text, const std::string& what) {
  std::size_t used = 0;
  unsigned long long value = 0;
  try {
    value = std::stoull(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || text[0] == '-')
    throw std::invalid_argument(what + ": expected a whole number, got '" + text + "'");
  return value;
}

const char* environment(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : nullptr;
}

} // namespace

std::uint64_t stable_hash(const std::string& text) {
  std::uint64_t hash = 14695981039346656037ull;
  for (unsigned char character : text) {
    hash ^= character;
    hash *= 1099511628211ull;
  }
  return hash;
}

bool Shard::holds(const SampleInfo& info) const {
  return count <= 1 || stable_hash(info.study_key()) % count == index;
}

std::string Shard::text() const {
  return std::to_string(index) + "/" + std::to_string(count);
}

Shard parse_shard(const std::string& text) {
  const auto slash = text.find('/');
  if (slash == std::string::npos)
    throw std::invalid_argument("--shard: expected I/N (for example 0/4), got '" + text + "'");
  Shard shard{parse_count(text.substr(0, slash), "--shard index"),
              parse_count(text.substr(slash + 1), "--shard count")};
  if (shard.count == 0 || shard.index >= shard.count)
    throw std::invalid_argument("--shard " + text + ": the index must be below the count (0-based)");
  return shard;
}

std::optional<Shard> shard_from_environment(std::uint64_t count) {
  if (const char* task = environment("SLURM_ARRAY_TASK_ID")) {
    const char* total = environment("SLURM_ARRAY_TASK_COUNT");
    if (total == nullptr && count == 0)
      throw std::invalid_argument(
          "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; give --shard-count");
    const std::uint64_t first = environment("SLURM_ARRAY_TASK_MIN")
                                    ? parse_count(environment("SLURM_ARRAY_TASK_MIN"), "SLURM_ARRAY_TASK_MIN")
                                    : 0;
    const std::uint64_t id = parse_count(task, "SLURM_ARRAY_TASK_ID");
    if (id < first) throw std::invalid_argument("SLURM_ARRAY_TASK_ID is below SLURM_ARRAY_TASK_MIN");
    return parse_shard(std::to_string(id - first) + "/" +
                       std::to_string(total ? parse_count(total, "SLURM_ARRAY_TASK_COUNT") : count));
  }
  if (const char* index = environment("JOB_COMPLETION_INDEX")) {
    if (count == 0)
      throw std::invalid_argument("JOB_COMPLETION_INDEX is set: give the Job's completions as --shard-count");
    return parse_shard(std::string(index) + "/" + std::to_string(count));
  }
  return std::nullopt;
}

} // namespace radpipe::host
