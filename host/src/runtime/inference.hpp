// Runs a built pipeline over a stream of samples: routing, each chain's preprocessing and model,
// and study aggregation. The core of `predict` and `evaluate`.
#pragma once

#include "runtime/pipeline.hpp"
#include "runtime/sample_stream.hpp"

#include <atomic>
#include <filesystem>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace radpipe::host {

struct InferenceOptions {
  InferenceOptions(std::string split_ = {}, std::size_t limit_ = 0) : split(std::move(split_)), limit(limit_) {}

  std::string split;     // keep only samples of this split (empty: all)
  std::size_t limit = 0; // at most this many images (0: all)
  // Further filter on the listing, before any pixel is decoded (shards, resume); empty: all.
  std::function<bool(const SampleInfo&)> keep;
  // Set (from a signal handler): stop reading; the images already read are still scored.
  const std::atomic<bool>* stop = nullptr;
  // For the progress total when `keep` is set: the listing is shared by this many shards, and a
  // resumed run has this many images done already.
  std::uint64_t expected_share = 1;
  std::uint64_t already_done = 0;
  // Also run the pipeline's [explain] stage and hand each image's heatmap (ImagePrediction::heatmap)
  // on; the pipeline must have one. Scores then come from the models' trainable form.
  bool heatmaps = false;
};

struct InferenceSummary {
  std::size_t images = 0;
  std::vector<SkippedSample> skipped; // unreadable images, and images no chain takes
  std::map<std::string, std::size_t> chain_images; // images scored by each chain
  double seconds = 0.0;
};

// Scores every image the reader lists (of the split, up to the limit) and hands each prediction
// to `on_image` in the reader's order, as soon as the images before it are done.
InferenceSummary stream_inference(Pipeline& pipeline, const InferenceOptions& options,
                                  const std::function<void(ImagePrediction&&)>& on_image);

struct InferenceResult {
  std::vector<ImagePrediction> images; // in enumeration order
  std::vector<StudyPrediction> studies;
  std::vector<SkippedSample> skipped;
  std::map<std::string, std::size_t> chain_images;
  double seconds = 0.0;
};

// stream_inference, collected, with the studies aggregated.
InferenceResult run_inference(Pipeline& pipeline, const InferenceOptions& options);

// Stream options for scoring a pipeline's samples as predict does: its workers and error policy,
// random stages off.
StreamOptions prediction_stream_options(const Pipeline& pipeline);

// The chain's model on a batch, in evaluation mode and without gradients, on the CPU: the
// positive-class probability [N] for binary chains, the softmax over the classes [N, k] for
// multi-class ones. An ensemble's models and TTA views are averaged (runtime/ensemble.hpp).
torch::Tensor chain_probabilities(Chain& chain, std::span<const Sample> batch);
// The same for a batch already stacked into the model's input (samples_to_tensor), on any device:
// explain_samples keeps that input for its explainer instead of stacking the batch twice.
torch::Tensor chain_probabilities_of_input(Chain& chain, const torch::Tensor& input);

// The chain's probabilities from its model's logits [N, outputs], on the CPU: positive_probability
// for binary chains, the softmax over the classes for multi-class ones.
torch::Tensor probabilities_from_logits(const Chain& chain, const torch::Tensor& logits);

// Image predictions of a batch scored by `chain` (the ChainRunner work of predict and evaluate).
std::vector<ImagePrediction> predict_batch(Chain& chain, std::vector<Sample>& batch);

// Probability of the positive class from a model's logits: sigmoid for one output, the softmax
// share of class 1 for several.
torch::Tensor positive_probability(const torch::Tensor& logits);

// A binary chain's label is 0 (normal) or 1 (abnormal). Throws SampleError naming the sample when
// it is another number (a label of 2 once counted as positive without a word).
void require_binary_label(const SampleInfo& info);

// One study's image probabilities as they arrive, until its last image is scored.
struct StudyAccumulator {
  StudyPrediction study;                          // image_count 0: nothing added yet
  std::vector<double> probabilities;              // binary: each image's
  std::vector<std::vector<double>> class_columns; // multi-class: per class, each image's

  void add(const ImagePrediction& image);
  StudyPrediction finish(const Built<Aggregator>& aggregator, double threshold);
  // With the aggregator and threshold of the chain that scored the study.
  StudyPrediction finish(Pipeline& pipeline);
};

// Groups image predictions into studies (first-seen order) and aggregates each.
std::vector<StudyPrediction> aggregate_studies(const std::vector<ImagePrediction>& images, const Built<Aggregator>& aggregator,
                                               double threshold);
// The same, each study with the aggregator and threshold of the chain that scored it.
std::vector<StudyPrediction> aggregate_studies(const std::vector<ImagePrediction>& images, Pipeline& pipeline);

// predictions.csv, studies.csv and run.json in `out_dir`, each written atomically.
void write_inference_outputs(const InferenceResult& result, const PipelineConfig& config, double threshold,
                             const std::filesystem::path& out_dir);

} // namespace radpipe::host
