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

} // namespace radpipe::transforms
