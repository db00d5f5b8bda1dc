#include "color.hpp"

#include <opencv2/imgproc.hpp>

#include "pixels.hpp"

namespace radpipe::transforms {

Grayscale::Grayscale(const Params& /*params*/, const StageContext& /*context*/) {}

Schema Grayscale::schema() {
  return Schema{};
}

void Grayscale::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_radpipe_image(sample, "grayscale");
  if (sample.image.channels() == 1) return;
  cv::Mat gray;
  cv::cvtColor(sample.image, gray, cv::COLOR_RGB2GRAY);
  sample.image = std::move(gray);
}

bool Grayscale::refine_decode_hint(DecodeHint& hint) const {
  hint.channels = DecodeHint::Channels::Gray;
  return true;
}

Rgb::Rgb(const Params& /*params*/, const StageContext& /*context*/) {}

Schema Rgb::schema() {
  return Schema{};
}

void Rgb::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_radpipe_image(sample, "rgb");
  if (sample.image.channels() == 3) return;
  cv::Mat rgb;
  cv::cvtColor(sample.image, rgb, cv::COLOR_GRAY2RGB);
  sample.image = std::move(rgb);
}

} // namespace radpipe::transforms
