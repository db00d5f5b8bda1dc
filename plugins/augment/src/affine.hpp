// Augment stage `random_affine`: one cv::warpAffine combining a random rotation, shear, zoom and
// translation about the image centre. The output keeps the input's size, depth and channels.
#pragma once

#include <cstdint>
#include <opencv2/core/matx.hpp>
#include <opencv2/core/types.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::augment {

struct AffineDraw {
  bool applied = false;      // false when the probability draw skipped the warp
  double rotation = 0.0;     // degrees, counter-clockwise as displayed (cv::getRotationMatrix2D's sense)
  double shear = 0.0;        // degrees, along x: a row at height dy from the centre moves by tan(shear) * dy
  double scale = 1.0;        // > 1 zooms in
  double translate_x = 0.0;  // fraction of the width
  double translate_y = 0.0;  // fraction of the height
};

class RandomAffine final : public Transform {
 public:
  static constexpr const char* name = "random_affine";

  RandomAffine(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;
  bool is_random() const override { return true; }

  // What apply does to the sample with this index; exposed so that tests check the draws.
  AffineDraw draw(std::uint64_t index, const TransformContext& context) const;

  // The forward map (source to output pixel coordinates) of `drawn` for an image of `size`:
  // output = centre + translation + R(rotation) * Shear(shear) * scale * (source - centre), with
  // the centre at ((width - 1) / 2, (height - 1) / 2) so that flips and quarter turns stay on the grid.
  static cv::Matx23d matrix(const AffineDraw& drawn, cv::Size size);

  // What apply would produce for `drawn`: exposed so that tests rebuild an output independently.
  cv::Mat warp(const cv::Mat& image, const AffineDraw& drawn) const;

 private:
  double probability_, rotation_, shear_, zoom_low_, zoom_high_, translate_;
  int border_;        // cv::BorderTypes
  double fill_value_; // for border constant, in the image's units
  int interpolation_; // cv::InterpolationFlags
  std::uint64_t salt_;
};

} // namespace radpipe::augment
