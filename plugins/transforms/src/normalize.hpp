// Transform stage `normalize`: pixels to float in [0, 1], then standardised per channel.
#pragma once

#include <opencv2/core/types.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::transforms {

class Normalize final : public Transform {
 public:
  Normalize(const Params& params, const StageContext& context);
  static Schema schema();
  // Converts to CV_32F: 8-bit / 255, 16-bit / 65535, float as is; then (x - mean) / std.
  void apply(Sample& sample, const TransformContext& context) const override;

 private:
  bool standardise_; // false for preset "none", which only scales
  cv::Scalar rgb_mean_, rgb_std_;
  // A gray image gets the average of the three channels' statistics.
  cv::Scalar gray_mean_, gray_std_;
};

} // namespace radpipe::transforms
