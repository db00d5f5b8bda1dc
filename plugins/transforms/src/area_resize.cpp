#include "area_resize.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <opencv2/core/saturate.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

namespace radpipe::transforms {
namespace {

// One source cell's share of one target cell along an axis.
struct Tap {
  int target;
  int source;
  float weight;
};

// cv::resize's own factor: it inverts the target-to-source ratio rather than dividing the other
// way, and the last bit decides whether a cell boundary falls within its 1e-3 tolerance.
double area_scale(int source_size, int target_size) {
  return 1.0 / (static_cast<double>(target_size) / source_size);
}

// The taps of OpenCV's INTER_AREA along one axis (computeResizeAreaTab in imgproc/src/resize.cpp):
// a target cell averages the source cells it covers, those it covers in part by the part covered,
// in the order of their target.
std::vector<Tap> area_taps(int source_size, int target_size) {
  const double scale = area_scale(source_size, target_size);
  std::vector<Tap> taps;
  taps.reserve(static_cast<std::size_t>(source_size + target_size) + 2);
  for (int target = 0; target < target_size; ++target) {
    const double start = target * scale;
    const double end = start + scale;
    const double cell = std::min(scale, source_size - start);
    int first_whole = static_cast<int>(std::ceil(start));
    const int end_whole = std::min(static_cast<int>(std::floor(end)), source_size - 1);
    first_whole = std::min(first_whole, end_whole);
    if (first_whole - start > 1e-3)
      taps.push_back({target, first_whole - 1, static_cast<float>((first_whole - start) / cell)});
    for (int source = first_whole; source < end_whole; ++source)
      taps.push_back({target, source, static_cast<float>(1.0 / cell)});
    if (end - end_whole > 1e-3)
      taps.push_back(
          {target, end_whole, static_cast<float>(std::min(std::min(end - end_whole, 1.0), cell) / cell)});
  }
  return taps;
}

// Rows first: each output row is the weighted sum of the source rows its cell covers, kept as
// floats across the full source width; then that one row is filtered along x.
template <typename Pixel>
void shrink_rows_first(const cv::Mat& source, cv::Mat& output) {
  const int channels = source.channels();
  const auto columns = area_taps(source.cols, output.cols);
  const auto rows = area_taps(source.rows, output.rows);
  const int source_width = source.cols * channels;
  const int output_width = output.cols * channels;
  std::vector<float> column_sums(static_cast<std::size_t>(source_width));
  std::vector<float> row_sums(static_cast<std::size_t>(output_width));

  auto row_tap = rows.begin();
  for (int y = 0; y < output.rows; ++y) {
    float* __restrict sums = column_sums.data();
    std::fill(column_sums.begin(), column_sums.end(), 0.0f);
    for (; row_tap != rows.end() && row_tap->target == y; ++row_tap) {
      const Pixel* __restrict line = source.ptr<Pixel>(row_tap->source);
      const float weight = row_tap->weight;
      for (int x = 0; x < source_width; ++x) sums[x] += weight * static_cast<float>(line[x]);
    }

    std::fill(row_sums.begin(), row_sums.end(), 0.0f);
    if (channels == 1) {
      for (const Tap& column : columns) row_sums[column.target] += sums[column.source] * column.weight;
    } else {
      for (const Tap& column : columns)
        for (int channel = 0; channel < channels; ++channel)
          row_sums[column.target * channels + channel] +=
              sums[column.source * channels + channel] * column.weight;
    }
    Pixel* written = output.ptr<Pixel>(y);
    for (int x = 0; x < output_width; ++x) written[x] = cv::saturate_cast<Pixel>(row_sums[x]);
  }
}

} // namespace

bool shrinks_by_area_itself(const cv::Mat& source, cv::Size size) {
  const int depth = source.depth();
  if (depth != CV_8U && depth != CV_16U && depth != CV_32F) return false;
  if (source.dims != 2 || source.empty() || size.width <= 0 || size.height <= 0 || size == source.size())
    return false;
  const double scale_x = area_scale(source.cols, size.width);
  const double scale_y = area_scale(source.rows, size.height);
  if (scale_x < 1 || scale_y < 1) return false; // OpenCV enlarges by a bilinear filter instead
  // Whole factors on both axes take OpenCV's vectorized block average, which is fast already.
  const bool whole_factors = std::abs(scale_x - cvRound(scale_x)) < DBL_EPSILON &&
                             std::abs(scale_y - cvRound(scale_y)) < DBL_EPSILON;
  return !whole_factors;
}

cv::Mat resize_by_area(const cv::Mat& source, cv::Size size) {
  cv::Mat output;
  if (!shrinks_by_area_itself(source, size)) {
    cv::resize(source, output, size, 0, 0, cv::INTER_AREA);
    return output;
  }
  output.create(size, source.type());
  switch (source.depth()) {
    case CV_8U:
      shrink_rows_first<std::uint8_t>(source, output);
      break;
    case CV_16U:
      shrink_rows_first<std::uint16_t>(source, output);
      break;
    default:
      shrink_rows_first<float>(source, output);
      break;
  }
  return output;
}

} // namespace radpipe::transforms
