// Order statistics of an image's pixels, shared by the stages that clip or stretch at percentiles.
#pragma once

#include <cstdint>
#include <opencv2/core/mat.hpp>
#include <span>
#include <vector>

namespace radpipe::transforms {

// The nearest-rank percentile: rank ceil(percent / 100 * count), kept within [1, count], so that
// percent 0 is the smallest value and 100 the largest. Ranks are 1-based.
std::uint64_t percentile_rank(double percent, std::uint64_t count);

// The values at the given 1-based ranks among all of `image`'s samples, every channel counted.
// 8- and 16-bit images are ranked through a 256- or 65536-bin histogram; float images, which have
// no bins, through std::nth_element on a copy. Each rank must lie in [1, image.total() * channels].
std::vector<double> order_statistics(const cv::Mat& image, std::span<const std::uint64_t> ranks);

// The histogram of an 8- or 16-bit image over all channels: one bin per value (256 or 65536).
// Counts are OpenCV's float counts, exact up to 2^24 per bin.
cv::Mat value_histogram(const cv::Mat& image);

} // namespace radpipe::transforms
