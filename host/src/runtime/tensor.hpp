// The one conversion from decoded samples to a model's input tensor.
#pragma once

#include <radpipe/sample.hpp>

#include <torch/types.h>

#include <span>

namespace radpipe::host {

// Stacks images into [N, channels, H, W] float32. 8-bit images are scaled to [0, 1] (/255),
// 16-bit ones by /65535, float images are taken as they are (a normalize stage made them).
// One-channel images are replicated when the model wants three. Throws std::runtime_error naming
// the sample when sizes differ or a 3-channel image meets a 1-channel model.
torch::Tensor samples_to_tensor(std::span<const Sample> samples, int channels);

// samples_to_tensor on `device`, the model's input. For a CUDA device the batch is assembled in
// pinned host memory and copied without blocking, so that the copy overlaps the host's work.
torch::Tensor samples_to_device(std::span<const Sample> samples, int channels, const torch::Device& device);

} // namespace radpipe::host
