#include "histogram.hpp"

#include <algorithm>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <stdexcept>

namespace radpipe::transforms {

std::uint64_t percentile_rank(double percent, std::uint64_t count) {
  // percent * count / 100 is written that way round because 0.5 * 200 is exact while 0.005 * 200
  // is not; the small allowance keeps a product that should be whole from rounding up a rank.
  const double position = std::ceil(percent * static_cast<double>(count) / 100.0 - 1e-9);
  return std::clamp<std::uint64_t>(position < 1.0 ? 1 : static_cast<std::uint64_t>(position), 1, count);
}

cv::Mat value_histogram(const cv::Mat& image) {
  const cv::Mat samples = image.reshape(1); // channels become columns: every sample counts once
  const int bins = image.depth() == CV_8U ? 256 : 65536;
  const int channel = 0;
  const float range[] = {0.0f, static_cast<float>(bins)};
  const float* ranges[] = {range};
  cv::Mat histogram;
  cv::calcHist(&samples, 1, &channel, cv::noArray(), histogram, 1, &bins, ranges, true, false);
  return histogram;
}

std::vector<double> order_statistics(const cv::Mat& image, std::span<const std::uint64_t> ranks) {
  const std::uint64_t count = image.total() * static_cast<std::uint64_t>(image.channels());
  for (const std::uint64_t rank : ranks)
    if (rank < 1 || rank > count) throw std::out_of_range("order_statistics: rank outside the image");

  std::vector<double> values;
  values.reserve(ranks.size());
  if (image.depth() == CV_32F) {
    const cv::Mat continuous = image.isContinuous() ? image : image.clone();
    std::vector<float> samples(continuous.ptr<float>(), continuous.ptr<float>() + count);
    for (const std::uint64_t rank : ranks) {
      const auto nth = samples.begin() + static_cast<std::ptrdiff_t>(rank - 1);
      std::nth_element(samples.begin(), nth, samples.end());
      values.push_back(*nth);
    }
    return values;
  }

  const cv::Mat histogram = value_histogram(image);
  const auto* bins = histogram.ptr<float>();
  for (const std::uint64_t rank : ranks) {
    // A cumulative walk over the bins (not the pixels) finds the first value reaching the rank.
    double seen = 0.0;
    int value = 0;
    for (; value < histogram.rows - 1; ++value) {
      seen += bins[value];
      if (seen >= static_cast<double>(rank)) break;
    }
    values.push_back(value);
  }
  return values;
}

} // namespace radpipe::transforms
