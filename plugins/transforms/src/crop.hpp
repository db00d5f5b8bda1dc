// Transform stage `center_crop`, and the centring rule `resize` shares with it.
#pragma once

#include <opencv2/core/mat.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::transforms {

// The centred `size` window of `image`, as a compact copy. A dimension smaller than `size` is
// first padded with `pad_value`, centred. Where the excess is odd, the extra pixel is cut (or
// padded) at the right or bottom, the rule `resize` also uses for its letterbox.
cv::Mat crop_centred(const cv::Mat& image, cv::Size size, double pad_value);
// Where crop_centred moves a pixel: output = input + this shift (x, y).
cv::Point2d centred_shift(cv::Size image, cv::Size size);

class CenterCrop final : public Transform {
 public:
  CenterCrop(const Params& params, const StageContext& context);
  static Schema schema();
  // The output is exactly size; depth and channel count are kept.
  void apply(Sample& sample, const TransformContext& context) const override;

 private:
  cv::Size size_;
  double pad_value_;
};

} // namespace radpipe::transforms
