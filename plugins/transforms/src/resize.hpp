// Transform stage `resize`: every image to one size, by one of three modes: `stretch` (aspect
// lost), `pad` (fit inside and letterbox) or `shorter_side_crop` (cover, then cut the centre).
#pragma once

#include <opencv2/core/types.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::transforms {

class Resize final : public Transform {
 public:
  enum class Mode { Stretch, Pad, ShorterSideCrop };

  Resize(const Params& params, const StageContext& context);
  static Schema schema();
  // The output is exactly size; depth and channel count are kept.
  void apply(Sample& sample, const TransformContext& context) const override;
  // The first resize of a chain lets the reader decode any size that still covers its own: both
  // sides for stretch and shorter_side_crop, one side for pad (which fits the image inside).
  bool refine_decode_hint(DecodeHint& hint) const override;

 private:
  cv::Size size_;
  Mode mode_;
  double pad_value_;
  int interpolation_; // a cv::InterpolationFlags value
};

} // namespace radpipe::transforms
