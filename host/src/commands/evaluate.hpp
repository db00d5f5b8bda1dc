// `radpipe evaluate`: scores a labelled split and writes metrics.json, predictions.csv,
// studies.csv, report.html (and MURA's submission format for MURA studies).
// `radpipe compare`: two evaluations side by side, per body part.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "commands/commands.hpp"
#include "report/evaluation.hpp"

namespace radpipe::host {

struct EvaluateOptions {
  std::filesystem::path pipeline;
  std::filesystem::path out_dir;
  std::string split; // replaces [evaluate] split when set
  std::size_t limit = 0;
  std::string device;
  std::filesystem::path checkpoint;
  // Further checkpoints scored with `checkpoint` as one ensemble (BuildOptions::member_checkpoints).
  std::vector<std::filesystem::path> member_checkpoints;
  bool selected_weights = false; // each chain's selected weights in the checkpoints (BuildOptions)
  std::filesystem::path reference; // replaces [evaluate] reference when set
  // Sees every listed sample first; may set its split or drop it (`radpipe cv` assigns folds).
  std::function<bool(SampleInfo&)> sample_filter;
  bool print_summary = true; // the metric tables on stdout
};
int command_evaluate(const GlobalOptions& global, const EvaluateOptions& options);

// What an evaluation found, for commands that pool several (`radpipe cv`).
struct EvaluationOutcome {
  std::vector<ImagePrediction> images;
  std::vector<StudyPrediction> studies;
  std::vector<StudyPrediction> patients; // one per patient; empty when the reader knows no patients
  double image_threshold = 0.5, study_threshold = 0.5, patient_threshold = 0.5;
  std::vector<LevelMetrics> levels;          // study, patient (when known), image; none for k > 2 classes
  std::vector<MulticlassMetrics> multiclass; // image and study level, for models with k > 1 outputs
};
// `radpipe evaluate`: writes its files into options.out_dir and returns the exit code; fills
// `outcome` (when given) on success.
int evaluate_pipeline(const GlobalOptions& global, const EvaluateOptions& options, EvaluationOutcome* outcome);

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
