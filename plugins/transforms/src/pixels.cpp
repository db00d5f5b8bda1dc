#include "pixels.hpp"

#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <string>

namespace radpipe::transforms {
namespace {

[[noreturn]] void fail(const Sample& sample, std::string_view stage, const std::string& problem) {
  throw SampleError(sample.info.path, std::string(stage) + ": sample " + sample.info.id + " " + problem);
}

} // namespace

void require_radpipe_image(const Sample& sample, std::string_view stage) {
  const cv::Mat& image = sample.image;
  if (image.empty()) fail(sample, stage, "has no pixels (was it decoded?)");
  if (image.channels() != 1 && image.channels() != 3)
    fail(sample, stage,
         "has " + std::to_string(image.channels()) + " channels; expected 1 (gray) or 3 (RGB)");
  const int depth = image.depth();
  if (depth != CV_8U && depth != CV_16U && depth != CV_32F)
    fail(sample, stage,
         "has pixel depth " + std::to_string(depth) + "; expected 8-bit, 16-bit unsigned or 32-bit float");
}

void require_finite_image(const Sample& sample, std::string_view stage) {
  require_radpipe_image(sample, stage);
  if (sample.image.depth() == CV_32F && !cv::checkRange(sample.image, true))
    fail(sample, stage, "has NaN or infinite pixels");
}

void require_integer_depth(const Sample& sample, std::string_view stage) {
  require_radpipe_image(sample, stage);
  if (sample.image.depth() == CV_32F)
    fail(sample, stage,
         "is a float image; this stage works on 8- or 16-bit pixels, so place it before normalize or min_max");
}

double depth_maximum(int depth) {
  switch (depth) {
    case CV_8U:
      return 255.0;
    case CV_16U:
      return 65535.0;
    default:
      return 1.0;
  }
}

} // namespace radpipe::transforms
