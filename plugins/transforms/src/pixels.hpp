// Checks every transform in this plugin uses before touching a sample's pixels, on top of the
// SDK's require_radpipe_image and depth_maximum (radpipe/image.hpp), which this header brings in.
#pragma once

#include <radpipe/image.hpp>
#include <radpipe/sample.hpp>
#include <string_view>

namespace radpipe::transforms {

// As require_radpipe_image, and also rejects float images holding NaN or infinity: statistics
// such as minimum, maximum and percentiles mean nothing on them.
void require_finite_image(const Sample& sample, std::string_view stage);

// Throws SampleError unless the image is 8- or 16-bit, for stages OpenCV implements only there.
void require_integer_depth(const Sample& sample, std::string_view stage);

} // namespace radpipe::transforms
