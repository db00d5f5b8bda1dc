#include "pixels.hpp"

#include <radpipe/error.hpp>
#include <string>

namespace radpipe::augment {

void require_radpipe_image(const Sample& sample, std::string_view stage) {
  const auto fail = [&](const std::string& problem) {
    throw SampleError(sample.info.path, std::string(stage) + ": sample " + sample.info.id + " " + problem);
  };
  const cv::Mat& image = sample.image;
  if (image.empty()) fail("has no pixels (was it decoded?)");
  if (image.channels() != 1 && image.channels() != 3)
    fail("has " + std::to_string(image.channels()) + " channels; expected 1 (gray) or 3 (RGB)");
  const int depth = image.depth();
  if (depth != CV_8U && depth != CV_16U && depth != CV_32F)
    fail("has pixel depth " + std::to_string(depth) + "; expected 8-bit, 16-bit unsigned or 32-bit float");
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

} // namespace radpipe::augment
