// Transform stage `standardize`: dataset standardisation with statistics fitted on the training
// split. `radpipe train` streams the training images through fit_add once; the result is saved
// with every checkpoint (save_state) and restored by `predict --checkpoint` (load_state). A
// pipeline may instead name a statistics file saved earlier, and then the stage is not fitted.
//
// Statistics are on the [0, 1] scale normalize uses (8-bit / 255, 16-bit / 65535, float as is),
// so that images of different depths share them. Standard deviations are population ones (/ n).
#pragma once

#include <cstdint>
#include <filesystem>
#include <opencv2/core/mat.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::transforms {

// What a fit produces. The per-pixel images exist only in mode per_pixel.
struct StandardizeStatistics {
  std::uint64_t images = 0;
  double mean = 0.0; // over every pixel and channel of every image
  double std = 0.0;
  cv::Mat pixel_mean; // CV_64FC(channels), the fitted image size
  cv::Mat pixel_std;
};

class Standardize final : public Transform {
 public:
  enum class Mode { Scalar, PerPixel };

  Standardize(const Params& params, const StageContext& context);
  static Schema schema();

  // To CV_32F: (x - mean) / max(std, min_std), with x on the [0, 1] scale; per pixel or scalar.
  void apply(Sample& sample, const TransformContext& context) const override;

  // A stage given a statistics file is already fitted and is not fitted again.
  bool needs_fit() const override { return !from_file_; }
  void fit_begin() override;
  void fit_add(const Sample& sample) override;
  void fit_end() override;
  void save_state(const std::filesystem::path& file) const override;
  void load_state(const std::filesystem::path& file) override;

  const StandardizeStatistics& statistics() const { return statistics_; }

 private:
  // Reads `file` into statistics_ and prepares apply; errors name `key` (empty from a checkpoint).
  void read_statistics(const std::filesystem::path& file, const std::string& key);
  void prepare_apply();

  Mode mode_;
  double min_std_;
  bool from_file_ = false;

  // Streaming accumulators, float64: Welford per pixel, and per image merged by Chan et al.'s
  // pairwise update for the scalar statistics. Both avoid the cancellation of sum-of-squares.
  std::uint64_t fit_count_ = 0;
  double fit_pixels_ = 0.0; // pixel values seen so far, every channel counted
  double fit_mean_ = 0.0;
  double fit_m2_ = 0.0;
  cv::Mat fit_pixel_mean_, fit_pixel_m2_;

  StandardizeStatistics statistics_;
  bool fitted_ = false;
  // What apply uses, in float32 like its output.
  cv::Mat apply_mean_, apply_inverse_std_;
  double apply_scalar_mean_ = 0.0, apply_scalar_inverse_std_ = 1.0;
};

} // namespace radpipe::transforms
