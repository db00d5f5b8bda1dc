// Checks and facts every transform in this plugin uses before touching a sample's pixels.
#pragma once

#include <opencv2/core/mat.hpp>
#include <radpipe/sample.hpp>
#include <string_view>

namespace radpipe::transforms {

// Throws SampleError (naming the sample and `stage`) unless the image is non-empty, has 1 or 3
// channels and is CV_8U, CV_16U or CV_32F, the forms radpipe's readers produce.
void require_radpipe_image(const Sample& sample, std::string_view stage);

// As require_radpipe_image, and also rejects float images holding NaN or infinity: statistics
// such as minimum, maximum and percentiles mean nothing on them.
void require_finite_image(const Sample& sample, std::string_view stage);

// Throws SampleError unless the image is 8- or 16-bit, for stages OpenCV implements only there.
void require_integer_depth(const Sample& sample, std::string_view stage);

// The value that stands for full intensity at `depth`: 255, 65535, or 1 for float images, which
// radpipe takes to be on a [0, 1] scale.
double depth_maximum(int depth);

} // namespace radpipe::transforms
