// Transform stages `clahe` and `equalize_histogram`: histogram-based contrast, on 8- and 16-bit
// pixels. A colour image is equalised on its luminance (Y of YCrCb) so that hues do not shift.
#pragma once

#include <opencv2/core/types.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::transforms {

// Contrast-limited adaptive histogram equalisation (OpenCV's CLAHE), keeping the depth.
class Clahe final : public Transform {
 public:
  Clahe(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;

 private:
  double clip_limit_;
  cv::Size tiles_;
};

// Global histogram equalisation with OpenCV's formula: the darkest value present becomes 0 and
// value v becomes (count(<= v) - count(darkest)) * max / (pixels - count(darkest)). 8-bit uses
// cv::equalizeHist; 16-bit the same formula through a 65536-entry table. A constant image is kept.
class EqualizeHistogram final : public Transform {
 public:
  EqualizeHistogram(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;
};

} // namespace radpipe::transforms
