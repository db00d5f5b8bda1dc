// The radpipe commands. Each returns the process exit code.
#pragma once

#include "config/pipeline_config.hpp"
#include "loader/plugin_host.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace radpipe::host {

enum ExitCode : int {
  exit_ok = 0,
  exit_invalid = 1,     // invalid pipeline, failed check, unreadable input
  exit_usage = 2,       // bad command line
  exit_plugin = 3,      // a plugin failed (load, build or run)
  exit_failure = 4,     // any other runtime failure (I/O, out of memory, ...)
  exit_interrupted = 5, // SIGINT or SIGTERM: stopped cleanly, resumable with --resume
};

struct GlobalOptions {
  std::vector<std::filesystem::path> plugin_paths;
  int threads = 0;
  std::vector<std::string> overrides; // `--set KEY=VALUE` of the commands that take a pipeline
  bool allow_insecure_plugins = false; // load plugins that other users could have replaced
};

// Loads the plugins of the search path, logging broken ones.
void load_plugins(PluginHost& plugins, const GlobalOptions& global);
// Validates a pipeline file with the `--set` overrides applied, printing every diagnostic to
// stderr; nullopt when it is invalid.
std::optional<PipelineConfig> validate_or_report(const std::filesystem::path& pipeline, const PluginHost& plugins,
                                                 const std::vector<std::string>& overrides);

struct PluginsOptions {
  bool json = false;
  std::filesystem::path verify; // a checksum list (sha256sum format): verify instead of listing
};
int command_plugins(const GlobalOptions& global, const PluginsOptions& options);

struct InspectOptions {
  std::string stage; // NAME, PLUGIN:NAME, KIND/NAME, or a host table such as '[pipeline]'
  bool all = false;  // every stage and host table
  bool json = false;
  bool markdown = false; // the stage reference, docs/stages.md
};
int command_inspect(const GlobalOptions& global, const InspectOptions& options);
int command_check(const GlobalOptions& global, const std::filesystem::path& pipeline);

struct PredictOptions {
  std::filesystem::path pipeline;
  std::filesystem::path out_dir;
  std::string split;
  std::size_t limit = 0;
  std::string device;
  std::filesystem::path checkpoint;
  bool selected_weights = false; // each chain's selected weights in the checkpoint (BuildOptions)
  // predict only:
  bool resume = false;             // append to the run in out_dir, skipping the ids it committed
  std::string shard;               // "I/N"; empty: from the scheduler's environment, else the whole run
  std::uint64_t shard_count = 0;   // Kubernetes Indexed Jobs: the Job's completions
  std::vector<std::string> inputs; // files, folders or list files read instead of the pipeline's [reader]
  double commit_seconds = 1.0;     // the least time between two commits of the outputs; 0: every batch
};
int command_predict(const GlobalOptions& global, const PredictOptions& options);

// Joins the outputs of shards of one run into `out_dir` after checking each shard's run.json.
int command_merge(const std::filesystem::path& out_dir, const std::vector<std::filesystem::path>& shard_dirs);

} // namespace radpipe::host
