#include "intensity.hpp"

#include <array>
#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <string>

#include "histogram.hpp"
#include "pixels.hpp"

namespace radpipe::transforms {
namespace {

// Maps [low, high] linearly onto [0, 1] as float; values outside are clipped first when asked.
cv::Mat rescale_to_unit(const cv::Mat& image, double low, double high, bool clip) {
  if (!(high > low)) return cv::Mat::zeros(image.size(), CV_32FC(image.channels()));
  cv::Mat result;
  image.convertTo(result, CV_32F);
  if (clip) {
    cv::max(result, cv::Scalar::all(low), result);
    cv::min(result, cv::Scalar::all(high), result);
  }
  // Subtract, then divide, rather than one multiply-add, so that low and high land exactly on 0 and 1.
  cv::subtract(result, cv::Scalar::all(low), result);
  cv::divide(result, cv::Scalar::all(high - low), result);
  return result;
}

} // namespace

MinMax::MinMax(const Params& /*params*/, const StageContext& /*context*/) {}

Schema MinMax::schema() {
  return Schema{};
}

void MinMax::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_finite_image(sample, "min_max");
  double low = 0.0, high = 0.0;
  cv::minMaxLoc(sample.image.reshape(1), &low, &high);
  sample.image = rescale_to_unit(sample.image, low, high, false);
}

Schema PercentileClip::schema() {
  return Schema{
      ParamSpec::real("low", "Percentile clipped to 0; values below it are clipped").with_default(0.5).in_range(0, 100),
      ParamSpec::real("high", "Percentile clipped to 1; values above it are clipped; greater than low")
          .with_default(99.5)
          .in_range(0, 100),
  };
}

PercentileClip::PercentileClip(const Params& params, const StageContext& /*context*/)
    : low_(params.real("low")), high_(params.real("high")) {
  if (!(high_ > low_))
    throw StageError("high", "must be greater than low (" + std::to_string(low_) + "), got " +
                                 std::to_string(high_));
}

void PercentileClip::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_finite_image(sample, "percentile_clip");
  const std::uint64_t count = sample.image.total() * static_cast<std::uint64_t>(sample.image.channels());
  const std::array ranks{percentile_rank(low_, count), percentile_rank(high_, count)};
  const std::vector<double> bounds = order_statistics(sample.image, ranks);
  sample.image = rescale_to_unit(sample.image, bounds[0], bounds[1], true);
}

Schema Autocontrast::schema() {
  return Schema{
      ParamSpec::real("cutoff",
                      "Percent of pixels, at each end, that saturate to the depth's minimum and maximum")
          .with_default(0.0)
          .in_range(0, 49),
  };
}

Autocontrast::Autocontrast(const Params& params, const StageContext& /*context*/)
    : cutoff_(params.real("cutoff")) {}

void Autocontrast::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_finite_image(sample, "autocontrast");
  const cv::Mat& image = sample.image;
  const std::uint64_t count = image.total() * static_cast<std::uint64_t>(image.channels());
  // The cutoff darkest pixels are ranks 1..k and the cutoff brightest ranks count-k+1..count, so
  // the bounds are ranks k and count-k+1: symmetric even when cutoff * count is not whole.
  const std::uint64_t k = percentile_rank(cutoff_, count);
  const std::array ranks{k, count - k + 1};
  const std::vector<double> bounds = order_statistics(image, ranks);
  if (!(bounds[1] > bounds[0])) return; // flat: there is no contrast to stretch

  const double top = depth_maximum(image.depth());
  const double scale = top / (bounds[1] - bounds[0]);
  cv::Mat result;
  // Integer depths saturate in convertTo; float needs the same clipping done explicitly.
  image.convertTo(result, image.depth(), scale, -bounds[0] * scale);
  if (image.depth() == CV_32F) {
    cv::max(result, cv::Scalar::all(0.0), result);
    cv::min(result, cv::Scalar::all(1.0), result);
  }
  sample.image = std::move(result);
}

Invert::Invert(const Params& /*params*/, const StageContext& /*context*/) {}

Schema Invert::schema() {
  return Schema{};
}

void Invert::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_radpipe_image(sample, "invert");
  cv::Mat result;
  // For unsigned integers the bitwise complement is exactly the depth's maximum minus the value.
  if (sample.image.depth() == CV_32F)
    cv::subtract(cv::Scalar::all(1.0), sample.image, result);
  else
    cv::bitwise_not(sample.image, result);
  sample.image = std::move(result);
}

} // namespace radpipe::transforms
