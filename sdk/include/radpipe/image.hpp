/// @file
/// @brief The pixel forms a radpipe image may take, and the check a stage makes before it touches
/// a sample's pixels. Header-only, so that plugins share it without linking one another.
///
/// A valid radpipe image is non-empty, has 1 channel (gray) or 3 channels (RGB), and has depth
/// CV_8U, CV_16U or CV_32F. These are the forms radpipe's readers produce. Float images are on a
/// [0, 1] scale until `normalize`, after which they are standardised and leave that range.
#pragma once

#include <opencv2/core/mat.hpp>
#include <radpipe/error.hpp>
#include <radpipe/sample.hpp>
#include <string>
#include <string_view>

namespace radpipe {

/// Throws SampleError unless `sample.image` is a valid radpipe image (see above). The error
/// carries the sample's path, and its message names `stage` and the sample's id and says what is
/// wrong: "STAGE: sample ID has 4 channels; expected 1 (gray) or 3 (RGB)".
inline void require_radpipe_image(const Sample& sample, std::string_view stage) {
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

/// The value that stands for full intensity at a radpipe image depth: 255 for CV_8U, 65535 for
/// CV_16U, and 1 for CV_32F (the nominal scale of float images before `normalize`, not a bound).
inline double depth_maximum(int depth) {
  switch (depth) {
    case CV_8U:
      return 255.0;
    case CV_16U:
      return 65535.0;
    default:
      return 1.0;
  }
}

} // namespace radpipe
