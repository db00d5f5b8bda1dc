#include "crop.hpp"

#include <algorithm>
#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <radpipe/geometry.hpp>
#include <string>

#include "pixels.hpp"

namespace radpipe::transforms {

cv::Mat crop_centred(const cv::Mat& image, cv::Size size, double pad_value) {
  cv::Mat source = image;
  const int missing_x = std::max(size.width - image.cols, 0);
  const int missing_y = std::max(size.height - image.rows, 0);
  if (missing_x > 0 || missing_y > 0)
    cv::copyMakeBorder(image, source, missing_y / 2, missing_y - missing_y / 2, missing_x / 2,
                       missing_x - missing_x / 2, cv::BORDER_CONSTANT, cv::Scalar::all(pad_value));
  const cv::Rect window((source.cols - size.width) / 2, (source.rows - size.height) / 2, size.width, size.height);
  // A copy, so that the sample no longer pins (or aliases) the larger buffer it was cut from.
  return source(window).clone();
}

cv::Point2d centred_shift(cv::Size image, cv::Size size) {
  // Padding adds half the missing pixels before the image; cutting removes half the excess.
  auto shift = [](int from, int to) { return from < to ? (to - from) / 2 : -((from - to) / 2); };
  return {static_cast<double>(shift(image.width, size.width)), static_cast<double>(shift(image.height, size.height))};
}

Schema CenterCrop::schema() {
  return Schema{
      ParamSpec::integers("size", "Output [width, height] in pixels; a smaller image is padded").items(2, 2).in_range(1, 16384),
      ParamSpec::real("pad_value",
                      "Value of any padding, in the image's own units (0-255 for 8-bit, 0-65535 for 16-bit)")
          .with_default(0.0),
  };
}

CenterCrop::CenterCrop(const Params& params, const StageContext& /*context*/)
    : pad_value_(params.real("pad_value")) {
  const auto& size = params.integers("size");
  if (size.size() != 2)
    throw StageError("size", "expected [width, height], got " + std::to_string(size.size()) + " numbers");
  size_ = cv::Size(static_cast<int>(size[0]), static_cast<int>(size[1]));
}

void CenterCrop::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_radpipe_image(sample, "center_crop");
  if (sample.image.size() == size_) return;
  const cv::Size input = sample.image.size();
  sample.image = crop_centred(sample.image, size_, pad_value_);
  const cv::Point2d shift = centred_shift(input, size_);
  record_geometry(sample.info, cv::Matx23d(1, 0, shift.x, 0, 1, shift.y), input, size_);
}

} // namespace radpipe::transforms
