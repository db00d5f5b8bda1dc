// The image checks the augment stages make before touching a sample's pixels.
#pragma once

#include <radpipe/sample.hpp>
#include <string_view>

namespace radpipe::augment {

// Throws SampleError (naming the sample and `stage`) unless the image is non-empty, has 1 or 3
// channels and is CV_8U, CV_16U or CV_32F. The transforms plugin makes the same check; the SDK
// has no shared helper, and plugins do not link one another.
void require_radpipe_image(const Sample& sample, std::string_view stage);

// The value standing for full intensity: 255, 65535, or 1 for float images (taken as [0, 1]).
double depth_maximum(int depth);

} // namespace radpipe::augment
