#include "equalize.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <opencv2/imgproc.hpp>
#include <radpipe/error.hpp>
#include <string>
#include <vector>

#include "histogram.hpp"
#include "pixels.hpp"

namespace radpipe::transforms {
namespace {

// Applies `equalise` (one channel in, one out, same depth) to a gray image, or to the luminance
// of an RGB one. YCrCb rather than Lab because OpenCV converts 16-bit to YCrCb but not to Lab.
template <class Equalise>
cv::Mat on_luminance(const cv::Mat& image, Equalise&& equalise) {
  if (image.channels() == 1) return equalise(image);
  cv::Mat ycrcb;
  cv::cvtColor(image, ycrcb, cv::COLOR_RGB2YCrCb);
  std::array<cv::Mat, 3> planes;
  cv::split(ycrcb, planes.data());
  planes[0] = equalise(planes[0]);
  cv::merge(planes.data(), planes.size(), ycrcb);
  cv::Mat rgb;
  cv::cvtColor(ycrcb, rgb, cv::COLOR_YCrCb2RGB);
  return rgb;
}

cv::Mat equalize_16bit(const cv::Mat& gray) {
  const cv::Mat histogram = value_histogram(gray);
  const auto* bins = histogram.ptr<float>();
  const int darkest = static_cast<int>(std::find_if(bins, bins + 65536, [](float n) { return n > 0.0f; }) - bins);
  const double total = static_cast<double>(gray.total());
  if (static_cast<double>(bins[darkest]) >= total) return gray; // constant: nothing to spread

  std::vector<std::uint16_t> table(65536, 0);
  const double scale = 65535.0 / (total - bins[darkest]);
  double below = 0.0; // pixels brighter than the darkest value, up to the current one
  for (int value = darkest + 1; value < 65536; ++value) {
    below += bins[value];
    table[value] = cv::saturate_cast<std::uint16_t>(below * scale);
  }
  // cv::LUT takes only 8-bit indices, so the 16-bit table is applied as a gather, row by row.
  cv::Mat result(gray.size(), CV_16UC1);
  for (int row = 0; row < gray.rows; ++row) {
    const auto* in = gray.ptr<std::uint16_t>(row);
    std::transform(in, in + gray.cols, result.ptr<std::uint16_t>(row),
                   [&table](std::uint16_t value) { return table[value]; });
  }
  return result;
}

} // namespace

Schema Clahe::schema() {
  return Schema{
      ParamSpec::real("clip_limit",
                      "Histogram clip, as a multiple of a tile's mean bin height; 0 turns clipping off")
          .with_default(2.0)
          .in_range(0, 1000),
      ParamSpec::integers("tiles", "Grid of [columns, rows] of tiles, each equalised on its own histogram")
          .with_default(ParamValue{std::vector<std::int64_t>{8, 8}})
          .items(2, 2)
          .in_range(1, 256),
  };
}

Clahe::Clahe(const Params& params, const StageContext& /*context*/) : clip_limit_(params.real("clip_limit")) {
  const auto& tiles = params.integers("tiles");
  if (tiles.size() != 2)
    throw StageError("tiles", "expected [columns, rows], got " + std::to_string(tiles.size()) + " numbers");
  tiles_ = cv::Size(static_cast<int>(tiles[0]), static_cast<int>(tiles[1]));
}

void Clahe::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_integer_depth(sample, "clahe");
  // A CLAHE object keeps scratch buffers between calls, so each call gets its own: apply may run
  // on several threads at once.
  const cv::Ptr<cv::CLAHE> clahe = cv::createCLAHE(clip_limit_, tiles_);
  sample.image = on_luminance(sample.image, [&clahe](const cv::Mat& gray) {
    cv::Mat result;
    clahe->apply(gray, result);
    return result;
  });
}

EqualizeHistogram::EqualizeHistogram(const Params& /*params*/, const StageContext& /*context*/) {}

Schema EqualizeHistogram::schema() {
  return Schema{};
}

void EqualizeHistogram::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_integer_depth(sample, "equalize_histogram");
  sample.image = on_luminance(sample.image, [](const cv::Mat& gray) {
    if (gray.depth() == CV_16U) return equalize_16bit(gray);
    cv::Mat result;
    cv::equalizeHist(gray, result);
    return result;
  });
}

} // namespace radpipe::transforms
