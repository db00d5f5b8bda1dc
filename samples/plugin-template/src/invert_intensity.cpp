#include "invert_intensity.hpp"

#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <radpipe/image.hpp>

namespace example {

radpipe::Schema InvertIntensity::schema() {
  return {
      radpipe::ParamSpec::real(
          "float_maximum", "Value that float images are inverted around (8/16-bit use their depth's maximum)")
          .with_default(1.0)
          .at_least(0.0)};
}

InvertIntensity::InvertIntensity(const radpipe::Params& params, const radpipe::StageContext&)
    : float_maximum_(params.real("float_maximum")) {}

void InvertIntensity::apply(radpipe::Sample& sample, const radpipe::TransformContext&) const {
  // A SampleError fails this image only: the run skips it (on_error = "skip") or stops, and reports
  // it as `PATH: plugin invert_intensity, stage transform invert_intensity: MESSAGE`.
  radpipe::require_radpipe_image(sample, "invert_intensity");
  cv::Mat& image = sample.image;
  const double maximum = image.depth() == CV_32F ? float_maximum_ : radpipe::depth_maximum(image.depth());
  cv::subtract(cv::Scalar::all(maximum), image, image);
}

} // namespace example
