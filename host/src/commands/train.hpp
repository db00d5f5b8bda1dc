// `radpipe train`: fits a pipeline's model chains on the training split, validates every epoch,
// and keeps checkpoints from which a run resumes after a crash.
#pragma once

#include "commands/commands.hpp"

#include <filesystem>
#include <functional>
#include <optional>
#include <string>

namespace radpipe::host {

struct TrainOptions {
  std::filesystem::path pipeline;
  std::filesystem::path out_dir; // replaces [train] output when set
  bool resume = false;
  std::string device;
  std::optional<int> epochs;     // replaces [train] epochs when set
  std::string route;             // trains only this chain ("default" for [model]); empty: all
  int nproc = 0;                 // `--nproc N`: main() starts N ranks (runtime/distributed.hpp); each checks it
  // Sees every listed sample first; may set its split or drop it (`radpipe cv` assigns folds).
  std::function<bool(SampleInfo&)> sample_filter;
};

int command_train(const GlobalOptions& global, const TrainOptions& options);

// Loss weights of positive and negative images for one group of counts (see [train] class_weights).
struct ClassWeights {
  double positive = 1.0;
  double negative = 1.0;
};
ClassWeights class_weights_for(const std::string& mode, std::size_t positives, std::size_t negatives, double explicit_positive,
                               double explicit_negative, double standardization_bias);

} // namespace radpipe::host
