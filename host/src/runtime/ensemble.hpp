// Ensembles and test-time augmentation in a chain's scoring: the mean over the chain's models
// (Chain::models) and over the TTA views of each (runtime/tta.hpp). chain_probabilities and
// explain_samples come here when a chain averages, so that predict, evaluate, explain, cv and the
// classifier router all score alike.
#pragma once

#include "runtime/pipeline.hpp"

#include <functional>
#include <string>

namespace radpipe::host {

// The chain's probabilities for an input [N, C, H, W] (on any device): [N] of the positive class
// for binary chains, [N, K] for multi-class ones; the mean over its models and views of their
// probabilities, or the probability of their mean logits (Chain::average).
torch::Tensor averaged_probabilities(Chain& chain, const torch::Tensor& input);

// One model's maps [N, H, W] (CPU, float) for an input [N, C, H, W] on the CPU.
using ExplainOne = std::function<torch::Tensor(Built<Model>& model, const torch::Tensor& input)>;

// The chain's heatmaps [N, H, W] for an input on the CPU: for each model, the mean of its views'
// maps, each taken back to the unaugmented frame (view_map_back) and averaged where the views saw
// the pixel; then the mean over the models. Without ensemble or TTA, `explain` of the one model.
torch::Tensor averaged_heatmaps(Chain& chain, const torch::Tensor& input, const ExplainOne& explain);

// What a chain averages, for logs and `radpipe check`: "ensemble of 3, probability average, TTA:
// horizontal flip"; empty when it scores with one model and no TTA.
std::string scoring_summary(const ChainConfig& chain);

// Where the file sets a chain's `ensemble` key (its model table when it does not).
SourceLocation ensemble_location(const ChainConfig& chain);

// "[model] is an ensemble of 2 weights files": how the refusals of an ensemble chain begin.
std::string ensemble_refusal(const ChainConfig& chain);

} // namespace radpipe::host
