#include "crop.hpp"

#include <algorithm>
#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <radpipe/image.hpp>
#include <string>

#include "seeding.hpp"

namespace radpipe::augment {

Schema RandomCrop::schema() {
  return Schema{
      ParamSpec::integers("size", "Output [width, height] in pixels; a smaller image is padded first")
          .items(2, 2)
          .in_range(1, 16384),
      ParamSpec::real("pad_value",
                      "Value of any padding, in the image's own units (0-255 for 8-bit, 0-65535 for 16-bit)")
          .with_default(0.0),
  };
}

RandomCrop::RandomCrop(const Params& params, const StageContext& /*context*/)
    : pad_value_(params.real("pad_value")), salt_(stage_salt(name, params)) {
  const auto& size = params.integers("size");
  if (size.size() != 2)
    throw StageError("size", "expected [width, height], got " + std::to_string(size.size()) + " numbers");
  size_ = cv::Size(static_cast<int>(size[0]), static_cast<int>(size[1]));
}

cv::Rect RandomCrop::draw(cv::Size padded, std::uint64_t index, const TransformContext& context) const {
  std::mt19937_64 generator = sample_generator(salt_, context, index);
  const int x = uniform_int(generator, 0, padded.width - size_.width);
  const int y = uniform_int(generator, 0, padded.height - size_.height);
  return {x, y, size_.width, size_.height};
}

void RandomCrop::apply(Sample& sample, const TransformContext& context) const {
  require_radpipe_image(sample, name);
  cv::Mat source = sample.image;
  const int missing_x = std::max(size_.width - source.cols, 0);
  const int missing_y = std::max(size_.height - source.rows, 0);
  if (missing_x > 0 || missing_y > 0)
    cv::copyMakeBorder(sample.image, source, missing_y / 2, missing_y - missing_y / 2, missing_x / 2,
                       missing_x - missing_x / 2, cv::BORDER_CONSTANT, cv::Scalar::all(pad_value_));
  // A copy, so that the sample no longer pins (or aliases) the larger buffer it was cut from.
  sample.image = source(draw(source.size(), sample.info.index, context)).clone();
}

} // namespace radpipe::augment
