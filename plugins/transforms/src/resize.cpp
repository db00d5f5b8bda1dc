#include "resize.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <opencv2/imgproc.hpp>
#include <radpipe/error.hpp>
#include <radpipe/geometry.hpp>
#include <string_view>
#include <utility>

#include "area_resize.hpp"
#include "crop.hpp"
#include "pixels.hpp"

namespace radpipe::transforms {
namespace {

constexpr std::array<std::pair<std::string_view, int>, 4> interpolations{{
    {"area", cv::INTER_AREA},
    {"linear", cv::INTER_LINEAR},
    {"cubic", cv::INTER_CUBIC},
    {"nearest", cv::INTER_NEAREST},
}};

int interpolation_flag(const std::string& name) {
  for (const auto& [written, flag] : interpolations)
    if (written == name) return flag;
  throw StageError(
      "interpolation",
      "\"" + name + "\" is not an interpolation; use \"area\", \"linear\", \"cubic\" or \"nearest\"");
}

Resize::Mode mode_from(const std::string& name) {
  if (name == "stretch") return Resize::Mode::Stretch;
  if (name == "pad") return Resize::Mode::Pad;
  if (name == "shorter_side_crop") return Resize::Mode::ShorterSideCrop;
  throw StageError("mode",
                   "\"" + name + "\" is not a mode; use \"stretch\", \"pad\" or \"shorter_side_crop\"");
}

cv::Mat resampled(const cv::Mat& source, cv::Size size, int interpolation) {
  if (interpolation == cv::INTER_AREA) return resize_by_area(source, size);
  cv::Mat output;
  cv::resize(source, output, size, 0, 0, interpolation);
  return output;
}

} // namespace

Schema Resize::schema() {
  return Schema{
      ParamSpec::integers("size", "Output [width, height] in pixels").items(2, 2).in_range(8, 4096),
      ParamSpec::string("mode",
                        "stretch: to size, aspect lost; pad: fit inside size, pad the rest centred; "
                        "shorter_side_crop: cover size, cut the centre")
          .with_default("pad")
          .one_of({"stretch", "pad", "shorter_side_crop"}),
      ParamSpec::real(
          "pad_value",
          "Value of the padding in mode pad, in the image's own units (0-255 for 8-bit, 0-65535 for 16-bit)")
          .with_default(ParamValue{0.0}),
      ParamSpec::string("interpolation", "Resampling: area suits shrinking, cubic enlarging")
          .with_default("area")
          .one_of({"area", "linear", "cubic", "nearest"}),
  };
}

Resize::Resize(const Params& params, const StageContext& /*context*/)
    : mode_(mode_from(params.string("mode"))),
      pad_value_(params.real("pad_value")),
      interpolation_(interpolation_flag(params.string("interpolation"))) {
  const auto& size = params.integers("size");
  if (size.size() != 2)
    throw StageError("size", "expected [width, height], got " + std::to_string(size.size()) + " numbers");
  size_ = cv::Size(static_cast<int>(size[0]), static_cast<int>(size[1]));
}

bool Resize::refine_decode_hint(DecodeHint& hint) const {
  // A later resize works on this one's output: the decode must still cover the first size.
  if (hint.reducible()) return true;
  // Twice the size: the resize then still averages at least 2x2 decoded pixels per output pixel,
  // as it does from a full decode, instead of leaving the filtering to libjpeg's scaled IDCT. Asked
  // for exactly the size, the demo's probabilities moved by 0.014 on average against a full decode;
  // at twice the size, by 0.003 (test Cli.FastPathGivesTheDemoModelsProbabilitiesWithinHalfAPercent).
  hint.min_width = 2 * size_.width;
  hint.min_height = 2 * size_.height;
  hint.cover = mode_ == Mode::Pad ? DecodeHint::Cover::Either : DecodeHint::Cover::Both;
  return true;
}

void Resize::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_radpipe_image(sample, "resize");
  const cv::Mat& source = sample.image;
  if (source.size() == size_) return;

  const cv::Size input = source.size();
  // Where each mode moves pixels, recorded so that heatmaps can be drawn back onto the image.
  auto record = [&](cv::Size scaled, cv::Point2d shift) {
    record_geometry(sample.info,
                    scale_then_shift(static_cast<double>(scaled.width) / input.width,
                                     static_cast<double>(scaled.height) / input.height, shift.x, shift.y),
                    input, size_);
  };
  if (mode_ == Mode::Stretch) {
    sample.image = resampled(source, size_, interpolation_);
    record(size_, {0, 0});
    return;
  }

  const double width_ratio = static_cast<double>(size_.width) / source.cols;
  const double height_ratio = static_cast<double>(size_.height) / source.rows;
  if (mode_ == Mode::ShorterSideCrop) {
    // Scaled to cover size (the shorter side fits exactly), never short of it by rounding.
    const double scale = std::max(width_ratio, height_ratio);
    const cv::Size content(std::max(static_cast<int>(std::lround(source.cols * scale)), size_.width),
                           std::max(static_cast<int>(std::lround(source.rows * scale)), size_.height));
    const cv::Mat resized = content == source.size() ? source : resampled(source, content, interpolation_);
    sample.image = crop_centred(resized, size_, pad_value_);
    record(content, centred_shift(content, size_));
    return;
  }

  const double scale = std::min(width_ratio, height_ratio);
  const cv::Size content(std::clamp(static_cast<int>(std::lround(source.cols * scale)), 1, size_.width),
                         std::clamp(static_cast<int>(std::lround(source.rows * scale)), 1, size_.height));
  const cv::Mat resized = content == source.size() ? source : resampled(source, content, interpolation_);

  const int left = (size_.width - content.width) / 2;
  const int top = (size_.height - content.height) / 2;
  cv::Mat output;
  cv::copyMakeBorder(resized, output, top, size_.height - content.height - top, left,
                     size_.width - content.width - left, cv::BORDER_CONSTANT, cv::Scalar::all(pad_value_));
  sample.image = std::move(output);
  record(content, {static_cast<double>(left), static_cast<double>(top)});
}

} // namespace radpipe::transforms
