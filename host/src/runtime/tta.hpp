// Test-time augmentation: views of a model's input tensor (flips, small shifts, corner and centre
// crops) and, for explainers, each view's heatmap taken back to the unaugmented frame.
#pragma once

#include <radpipe/schema.hpp>

#include <torch/types.h>

#include <string>
#include <vector>

namespace radpipe::host {

// How a chain's several outputs (ensemble members, TTA views) become one: the mean of their
// probabilities, or the probability of their mean logit.
enum class Averaging { Probability, Logit };

// The TTA a model table asks for (its host keys tta_flips, tta_shift, tta_crop). The unaugmented
// input is always one of the views; each option adds views of its own.
struct TestTimeAugmentation {
  bool horizontal_flip = false;
  bool vertical_flip = false;
  int shift = 0;     // pixels: four views moved by this much left, right, up and down; 0: none
  double crop = 1.0; // side fraction of five crops (four corners, centre) resized back; 1: none

  // From a model table's host keys (host_keys_for(StageKind::Model)).
  static TestTimeAugmentation from(const Params& model_host);
  bool enabled() const { return horizontal_flip || vertical_flip || shift > 0 || crop < 1.0; }
};

// The averaging a model table asks for (its host key `average`).
Averaging averaging_from(const Params& model_host);

// One view of an input [N, C, H, W].
struct TtaView {
  enum class Kind { Identity, HorizontalFlip, VerticalFlip, Shift, Crop };
  Kind kind = Kind::Identity;
  int x = 0, y = 0;          // Shift: how far the content moves (right, down); Crop: its top-left corner
  int width = 0, height = 0; // Crop: its size

  std::string describe() const;
};

// The views of `tta` for inputs of `height` x `width`, the unaugmented one first. Throws
// std::runtime_error when a shift or crop does not fit the input.
std::vector<TtaView> tta_views(const TestTimeAugmentation& tta, int height, int width);

// The view of images [N, C, H, W]: of the same size, on the same device. Shifts repeat the edge
// pixels into the space they uncover; crops are resized back bilinearly.
torch::Tensor apply_view(const TtaView& view, const torch::Tensor& images);

// A map computed on a view, in the unaugmented frame: `map` [N, H, W] and `coverage` [H, W], 1
// where the view saw the pixel and 0 where it did not (the parts a crop or shift left out, where
// `map` is 0).
struct FrameMap {
  torch::Tensor map;
  torch::Tensor coverage;
};

// Takes maps [N, H, W] computed on `view` back to the unaugmented frame: flipped back, shifted
// back, a crop's map resized to the crop and placed where it was cut from.
FrameMap view_map_back(const TtaView& view, const torch::Tensor& maps);

} // namespace radpipe::host
