// The pipeline's [explain] stage over one chain's batch, shared by `radpipe explain` (figures) and
// `predict` (heatmaps handed to writers that draw them, Writer::wants_heatmaps).
#pragma once

#include "runtime/pipeline.hpp"

#include <opencv2/core/mat.hpp>

namespace radpipe::host {

struct ExplainedBatch {
  torch::Tensor input;         // [N, C, H, W]: the model's input, on the CPU
  torch::Tensor probabilities; // binary chains: [N] of the positive class; multi-class: [N, K] softmax
  torch::Tensor heat;          // [N, H, W] in [0, 1], on the CPU, float
};

// Scores the batch and explains each image: binary chains the evidence for the positive class,
// multi-class ones the evidence for each image's predicted class. The chain's model must be in its
// trainable form (explainers differentiate it). Throws PluginError when the explainer returns
// maps of the wrong shape.
ExplainedBatch explain_samples(Chain& chain, Built<Explainer>& explainer, std::span<const Sample> batch);

// One heatmap ([H, W], the model input's size) carried onto the image as the reader decoded it,
// through the geometry the transforms recorded: the decoded image's whole frame, scaled so that
// its longer side is at most `max_side` (a heatmap holds no finer detail than the model's input).
// Without a usable record (a transform changed the size and did not say how) the map is returned
// as it is and `stretched` set: drawing it over the image is then exact only for a plain resize.
cv::Mat heatmap_on_decoded_frame(const torch::Tensor& heat, const SampleInfo& info, int max_side, bool& stretched);

// The same onto a decoded image of size `decoded` at that size (explain's original-size figures).
cv::Mat heatmap_at_source(const torch::Tensor& heat, const SampleInfo& info, cv::Size decoded, bool& stretched);

} // namespace radpipe::host
