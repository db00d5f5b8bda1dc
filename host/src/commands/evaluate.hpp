// `radpipe evaluate`: scores a labelled split and writes metrics.json, predictions.csv,
// studies.csv, report.html (and MURA's submission format for MURA studies).
// `radpipe compare`: two evaluations side by side, per body part.
#pragma once

#include <filesystem>
#include <string>

#include "commands/commands.hpp"

namespace radpipe::host {

struct EvaluateOptions {
  std::filesystem::path pipeline;
  std::filesystem::path out_dir;
  std::string split; // replaces [evaluate] split when set
  std::size_t limit = 0;
  std::string device;
  std::filesystem::path checkpoint;
  std::filesystem::path reference; // replaces [evaluate] reference when set
};
int command_evaluate(const GlobalOptions& global, const EvaluateOptions& options);

struct CompareOptions {
  std::filesystem::path run_a, run_b; // output folders of `radpipe evaluate`, or their metrics.json
  std::string level;                  // "study" or "image"
};
int command_compare(const CompareOptions& options);

// Where a run's training history is: history.csv in the checkpoint folder or the run folder above
// it (RUN/checkpoints/NAME), else beside the default chain's weights file. Empty when nowhere.
std::filesystem::path find_training_history(const std::filesystem::path& checkpoint,
                                            const PipelineConfig& config);

} // namespace radpipe::host
