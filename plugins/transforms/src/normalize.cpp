#include "normalize.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>
#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <string>
#include <vector>

#include "pixels.hpp"

namespace radpipe::transforms {
namespace {

// The ImageNet statistics torchvision's pretrained weights expect, in RGB order.
constexpr std::array<double, 3> imagenet_mean{0.485, 0.456, 0.406};
constexpr std::array<double, 3> imagenet_std{0.229, 0.224, 0.225};

// Reads `key` as 1 value (every channel) or 3 (R, G, B).
std::vector<double> channel_values(const Params& params, const std::string& key) {
  std::vector<double> values = params.reals(key);
  if (values.size() != 1 && values.size() != 3)
    throw StageError(
        key, "has " + std::to_string(values.size()) + " values; give 1 (for every channel) or 3 (R, G, B)");
  return values;
}

cv::Scalar as_rgb(const std::vector<double>& values) {
  return values.size() == 1 ? cv::Scalar::all(values[0]) : cv::Scalar(values[0], values[1], values[2]);
}

cv::Scalar as_gray(const std::vector<double>& values) {
  return cv::Scalar::all(std::accumulate(values.begin(), values.end(), 0.0) /
                         static_cast<double>(values.size()));
}

double unit_scale(int depth) {
  switch (depth) {
    case CV_8U:
      return 1.0 / 255.0;
    case CV_16U:
      return 1.0 / 65535.0;
    default:
      return 1.0; // float images are taken to be in [0, 1] already
  }
}

// Models expect inputs of about -3..3. A std far below the pixels' spread (a typo, a value meant
// for another scale) sends every input to huge magnitudes, and every probability saturates at 0 or
// 1 without any error: say so when the pipeline is built.
void warn_when_pixels_blow_up(const std::vector<double>& mean, const std::vector<double>& std, const StageContext& context) {
  constexpr double largest_sane_input = 100.0;
  double largest = 0.0;
  for (std::size_t channel = 0; channel < std.size(); ++channel) {
    const double centre = mean[std::min(channel, mean.size() - 1)];
    largest = std::max({largest, std::abs(0.0 - centre) / std[channel], std::abs(1.0 - centre) / std[channel]});
  }
  if (largest > largest_sane_input) {
    std::ostringstream message;
    message << "normalize: std = " << *std::min_element(std.begin(), std.end()) << " turns pixels in [0, 1] into values up to "
            << largest << " in magnitude, where models expect about -3..3: every probability will likely be 0 or 1. std "
            << "is on the [0, 1] scale (ImageNet's is 0.226)";
    context.warn(message.str());
  }
}

} // namespace

Schema Normalize::schema() {
  return Schema{
      ParamSpec::string(
          "preset",
          "imagenet: ImageNet mean and std; custom: mean and std given here; none: only scale to [0, 1]")
          .with_default("imagenet")
          .one_of({"imagenet", "custom", "none"}),
      ParamSpec::reals(
          "mean",
          "Per-channel mean on the [0, 1] scale, 1 value or 3 (R, G, B); only with preset = \"custom\"")
          .optional()
          .items(1, 3),
      // Zero would divide by zero, and a denormal std overflows float pixels to infinity: both are
      // refused by the schema, so `radpipe check` reports them before any run.
      ParamSpec::reals("std",
                       "Per-channel standard deviation on the [0, 1] scale, at least 1.2e-38 (the smallest normal "
                       "float); 1 value or 3 (R, G, B); only with preset = \"custom\"")
          .optional()
          .items(1, 3)
          .at_least(static_cast<double>(std::numeric_limits<float>::min())),
  };
}

Normalize::Normalize(const Params& params, const StageContext& context) {
  const std::string& preset = params.string("preset");
  std::vector<double> mean, std;
  if (preset == "custom") {
    for (const char* key : {"mean", "std"})
      if (!params.has(key))
        throw StageError(key, std::string("preset = \"custom\" needs ") + key +
                                  ": 1 value for every channel or 3 (R, G, B)");
    mean = channel_values(params, "mean");
    std = channel_values(params, "std");
    for (double deviation : std)
      if (!(deviation > 0.0))
        throw StageError("std", "every value must be greater than 0, got " + std::to_string(deviation));
  } else {
    for (const char* key : {"mean", "std"})
      if (params.has(key))
        throw StageError(key, std::string(key) + " is used only with preset = \"custom\", but preset is \"" +
                                  preset + "\"; set preset = \"custom\" or remove " + key);
    if (preset == "imagenet") {
      mean.assign(imagenet_mean.begin(), imagenet_mean.end());
      std.assign(imagenet_std.begin(), imagenet_std.end());
    } else if (preset != "none") {
      throw StageError("preset",
                       "\"" + preset + "\" is not a preset; use \"imagenet\", \"custom\" or \"none\"");
    }
  }
  standardise_ = preset != "none";
  if (standardise_) warn_when_pixels_blow_up(mean, std, context);
  if (standardise_) {
    rgb_mean_ = as_rgb(mean);
    rgb_std_ = as_rgb(std);
    gray_mean_ = as_gray(mean);
    gray_std_ = as_gray(std);
  }
}

void Normalize::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_radpipe_image(sample, "normalize");
  const double unit = unit_scale(sample.image.depth());
  cv::Mat scaled;
  if (standardise_ && sample.image.channels() == 1) {
    // Gray, the usual radiograph: (x * unit - mean) / std as one multiply-add pass over the pixels.
    const double inverse_std = 1.0 / gray_std_[0];
    sample.image.convertTo(scaled, CV_32F, unit * inverse_std, -gray_mean_[0] * inverse_std);
  } else {
    sample.image.convertTo(scaled, CV_32F, unit);
    if (standardise_) {
      cv::subtract(scaled, rgb_mean_, scaled);
      cv::divide(scaled, rgb_std_, scaled);
    }
  }
  sample.image = std::move(scaled);
}

} // namespace radpipe::transforms
