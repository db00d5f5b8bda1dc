#include "standardize.hpp"

#include <cmath>
#include <limits>
#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <string>

#include "pixels.hpp"

namespace radpipe::transforms {
namespace {

constexpr const char* state_format = "radpipe-standardize-1";

Standardize::Mode mode_from(const std::string& name) {
  if (name == "scalar") return Standardize::Mode::Scalar;
  if (name == "per_pixel") return Standardize::Mode::PerPixel;
  throw StageError("mode", "\"" + name + "\" is not a mode; use \"scalar\" or \"per_pixel\"");
}

std::string shape_text(const cv::Mat& image) {
  return std::to_string(image.cols) + "x" + std::to_string(image.rows) + " with " +
         std::to_string(image.channels()) + " channel(s)";
}

// Calls `body` with a null pointer of the image's pixel type, so that the loops below are
// compiled once per depth and read pixels without conversion copies.
template <class Body>
void with_pixel_type(int depth, Body&& body) {
  switch (depth) {
    case CV_8U:
      body(static_cast<const unsigned char*>(nullptr));
      break;
    case CV_16U:
      body(static_cast<const std::uint16_t*>(nullptr));
      break;
    default:
      body(static_cast<const float*>(nullptr));
      break;
  }
}

struct Moments {
  double count = 0.0;
  double mean = 0.0;
  double m2 = 0.0; // sum of squared deviations from the mean
};

// Two passes over one image in float64: the mean, then the squared deviations from it. Integer
// pixels sum exactly in a double (65535 * 2^37 is still below 2^53).
template <class Pixel>
Moments image_moments(const cv::Mat& image, double scale) {
  const int values = image.cols * image.channels();
  double sum = 0.0;
  for (int row = 0; row < image.rows; ++row) {
    const auto* in = image.ptr<Pixel>(row);
    for (int i = 0; i < values; ++i) sum += in[i];
  }
  Moments moments;
  moments.count = static_cast<double>(values) * image.rows;
  const double raw_mean = sum / moments.count;
  for (int row = 0; row < image.rows; ++row) {
    const auto* in = image.ptr<Pixel>(row);
    for (int i = 0; i < values; ++i) {
      const double deviation = in[i] - raw_mean;
      moments.m2 += deviation * deviation;
    }
  }
  moments.mean = raw_mean * scale;
  moments.m2 *= scale * scale;
  return moments;
}

// Welford's update of every pixel's running mean and M2 with the `count`-th image.
template <class Pixel>
void welford_update(const cv::Mat& image, double scale, double count, cv::Mat& mean, cv::Mat& m2) {
  const int values = image.cols * image.channels();
  for (int row = 0; row < image.rows; ++row) {
    const auto* in = image.ptr<Pixel>(row);
    auto* running_mean = mean.ptr<double>(row);
    auto* running_m2 = m2.ptr<double>(row);
    for (int i = 0; i < values; ++i) {
      const double x = in[i] * scale;
      const double delta = x - running_mean[i];
      running_mean[i] += delta / count;
      running_m2[i] += delta * (x - running_mean[i]);
    }
  }
}

} // namespace

Schema Standardize::schema() {
  return Schema{
      ParamSpec::string(
          "mode",
          "scalar: one mean and std over every pixel (any image size); per_pixel: a mean and std "
          "image (needs one image size: place after resize)")
          .with_default("scalar")
          .one_of({"scalar", "per_pixel"}),
      ParamSpec::real(
          "min_std",
          "Floor of the standard deviation on the [0, 1] scale, so that constant pixels (padding) "
          "do not divide by zero")
          .with_default(1e-3)
          .in_range(1e-12, 1),
      ParamSpec::path("statistics",
                      "Statistics saved by an earlier fit (a checkpoint's preprocess-N.state); when given, "
                      "the stage is not fitted again")
          .optional()
          .existing(),
  };
}

Standardize::Standardize(const Params& params, const StageContext& /*context*/)
    : mode_(mode_from(params.string("mode"))), min_std_(params.real("min_std")) {
  if (params.has("statistics")) {
    read_statistics(params.path("statistics"), "statistics");
    from_file_ = true;
  }
}

void Standardize::fit_begin() {
  fit_count_ = 0;
  fit_pixels_ = fit_mean_ = fit_m2_ = 0.0;
  fit_pixel_mean_.release();
  fit_pixel_m2_.release();
}

void Standardize::fit_add(const Sample& sample) {
  require_finite_image(sample, "standardize");
  const cv::Mat& image = sample.image;
  const double scale = 1.0 / depth_maximum(image.depth());

  // The scalar statistics merge each image's exact two-pass moments into the running ones
  // (Chan, Golub and LeVeque's pairwise update), so images of any size may be mixed.
  Moments moments;
  with_pixel_type(image.depth(),
                  [&]<class Pixel>(const Pixel*) { moments = image_moments<Pixel>(image, scale); });
  const double merged = fit_pixels_ + moments.count;
  const double delta = moments.mean - fit_mean_;
  fit_mean_ += delta * (moments.count / merged);
  fit_m2_ += moments.m2 + delta * delta * (fit_pixels_ * moments.count / merged);
  fit_pixels_ = merged;
  ++fit_count_;

  if (mode_ != Mode::PerPixel) return;
  if (fit_count_ == 1) {
    fit_pixel_mean_ = cv::Mat::zeros(image.size(), CV_64FC(image.channels()));
    fit_pixel_m2_ = cv::Mat::zeros(image.size(), CV_64FC(image.channels()));
  } else if (image.size() != fit_pixel_mean_.size() || image.channels() != fit_pixel_mean_.channels()) {
    throw StageError("mode", "sample " + sample.info.id + " is " + shape_text(image) +
                                 " but earlier samples were " + shape_text(fit_pixel_mean_) +
                                 "; mode = \"per_pixel\" needs one image size: place resize (or center_crop) "
                                 "before standardize, or use mode = \"scalar\"");
  }
  const auto count = static_cast<double>(fit_count_);
  with_pixel_type(image.depth(), [&]<class Pixel>(const Pixel*) {
    welford_update<Pixel>(image, scale, count, fit_pixel_mean_, fit_pixel_m2_);
  });
}

void Standardize::fit_end() {
  if (fit_count_ == 0)
    throw StageError(
        "no training samples reached standardize, so there is nothing to fit; check the reader's "
        "split column and [train] limit");
  StandardizeStatistics fitted;
  fitted.images = fit_count_;
  fitted.mean = fit_mean_;
  fitted.std = std::sqrt(fit_m2_ / fit_pixels_);
  if (mode_ == Mode::PerPixel) {
    fitted.pixel_mean = fit_pixel_mean_;
    cv::sqrt(fit_pixel_m2_ / static_cast<double>(fit_count_), fitted.pixel_std);
  }
  statistics_ = std::move(fitted);
  fit_pixel_mean_.release();
  fit_pixel_m2_.release();
  prepare_apply();
}

void Standardize::save_state(const std::filesystem::path& file) const {
  if (!fitted_) throw StageError("standardize has no statistics to save: it was neither fitted nor loaded");
  if (statistics_.images > static_cast<std::uint64_t>(std::numeric_limits<int>::max()))
    throw StageError("standardize fitted on more images than its state file can count");
  // Base64 keeps the float64 images exact and about a third of their text size.
  cv::FileStorage storage(file.string(), cv::FileStorage::WRITE_BASE64 | cv::FileStorage::FORMAT_YAML);
  if (!storage.isOpened()) throw StageError("cannot write the statistics file " + file.string());
  storage << "format" << state_format;
  storage << "images" << static_cast<int>(statistics_.images);
  storage << "mean" << statistics_.mean;
  storage << "std" << statistics_.std;
  if (!statistics_.pixel_mean.empty()) {
    storage << "pixel_mean" << statistics_.pixel_mean;
    storage << "pixel_std" << statistics_.pixel_std;
  }
  storage.release();
}

void Standardize::load_state(const std::filesystem::path& file) {
  read_statistics(file, "");
}

void Standardize::read_statistics(const std::filesystem::path& file, const std::string& key) {
  const auto fail = [&](const std::string& problem) {
    throw StageError(key, "statistics file " + file.string() + " " + problem);
  };
  StandardizeStatistics loaded;
  try {
    cv::FileStorage storage(file.string(), cv::FileStorage::READ | cv::FileStorage::FORMAT_YAML);
    if (!storage.isOpened()) fail("cannot be opened");
    for (const char* name : {"mean", "std"})
      if (!storage[name].isReal()) fail(std::string("has no number '") + name + "'");
    loaded.mean = static_cast<double>(storage["mean"]);
    loaded.std = static_cast<double>(storage["std"]);
    if (storage["images"].isInt())
      loaded.images = static_cast<std::uint64_t>(static_cast<int>(storage["images"]));
    if (!storage["pixel_mean"].empty()) {
      storage["pixel_mean"] >> loaded.pixel_mean;
      storage["pixel_std"] >> loaded.pixel_std;
    }
  } catch (const cv::Exception& error) {
    fail("is not a readable YAML statistics file: " + error.msg);
  }
  if (!std::isfinite(loaded.mean) || !(loaded.std >= 0.0))
    fail("has a mean or std that is not a finite number >= 0");
  if (mode_ == Mode::PerPixel) {
    if (loaded.pixel_mean.empty())
      fail(
          "has no per-pixel statistics (it was fitted with mode = \"scalar\"); refit, or use mode = "
          "\"scalar\"");
    if (loaded.pixel_mean.depth() != CV_64F || loaded.pixel_std.size() != loaded.pixel_mean.size() ||
        loaded.pixel_std.type() != loaded.pixel_mean.type())
      fail("has pixel_mean and pixel_std images that do not match: they must be float64 and of one size");
  }
  statistics_ = std::move(loaded);
  prepare_apply();
}

void Standardize::prepare_apply() {
  apply_scalar_mean_ = statistics_.mean;
  apply_scalar_inverse_std_ = 1.0 / std::max(statistics_.std, min_std_);
  if (mode_ == Mode::PerPixel) {
    statistics_.pixel_mean.convertTo(apply_mean_, CV_32F);
    cv::Mat floored = cv::max(statistics_.pixel_std, min_std_);
    cv::divide(1.0, floored, floored);
    floored.convertTo(apply_inverse_std_, CV_32F);
  }
  fitted_ = true;
}

void Standardize::apply(Sample& sample, const TransformContext& /*context*/) const {
  require_radpipe_image(sample, "standardize");
  if (!fitted_)
    throw StageError(
        "standardize has no statistics: `radpipe train` fits it and `predict --checkpoint DIR` "
        "restores them, or name a saved file with statistics = \"FILE\"");
  const cv::Mat& image = sample.image;
  const double scale = 1.0 / depth_maximum(image.depth());
  cv::Mat result;
  if (mode_ == Mode::Scalar) {
    // (x * scale - mean) * inverse_std in one pass.
    image.convertTo(result, CV_32F, scale * apply_scalar_inverse_std_,
                    -apply_scalar_mean_ * apply_scalar_inverse_std_);
  } else {
    if (image.size() != apply_mean_.size() || image.channels() != apply_mean_.channels())
      throw StageError("mode", "sample " + sample.info.id + " is " + shape_text(image) +
                                   " but the per-pixel statistics are " + shape_text(apply_mean_) +
                                   "; place resize (or center_crop) to that size before standardize");
    image.convertTo(result, CV_32F, scale);
    cv::subtract(result, apply_mean_, result);
    cv::multiply(result, apply_inverse_std_, result);
  }
  sample.image = std::move(result);
}

} // namespace radpipe::transforms
