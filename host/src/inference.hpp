// Runs a built pipeline's models over a stream of samples and aggregates studies: the core of
// `predict` and `evaluate`.
#pragma once

#include "pipeline.hpp"
#include "sample_stream.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace radpipe::host {

struct InferenceOptions {
  std::string split;     // keep only samples of this split (empty: all)
  std::size_t limit = 0; // at most this many images (0: all)
};

struct InferenceResult {
  std::vector<ImagePrediction> images; // in enumeration order
  std::vector<StudyPrediction> studies;
  std::vector<SkippedSample> skipped;
  double seconds = 0.0;
};

InferenceResult run_inference(Pipeline& pipeline, const InferenceOptions& options);

// Stream options for scoring a pipeline's samples as predict does: its workers and error policy,
// random stages off.
StreamOptions prediction_stream_options(const PipelineConfig& config);

// Probability of the positive class from a model's logits: sigmoid for one output, the softmax
// share of class 1 for several.
torch::Tensor positive_probability(const torch::Tensor& logits);

// radpipe's models and metrics are binary: a label must be 0 (normal) or 1 (abnormal). Throws
// SampleError naming the sample when it is another class (a label of 2 once counted as positive
// without a word).
void require_binary_label(const SampleInfo& info);

// Groups image predictions into studies (first-seen order) and aggregates each.
std::vector<StudyPrediction> aggregate_studies(const std::vector<ImagePrediction>& images, const Built<Aggregator>& aggregator,
                                               double threshold);

// predictions.csv, studies.csv and run.json in `out_dir`, each written atomically.
void write_inference_outputs(const InferenceResult& result, const PipelineConfig& config, double threshold,
                             const std::filesystem::path& out_dir);

} // namespace radpipe::host
