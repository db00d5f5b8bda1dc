// Augment stage `random_crop`: a window of fixed size at a random position.
#pragma once

#include <cstdint>
#include <opencv2/core/types.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::augment {

class RandomCrop final : public Transform {
 public:
  static constexpr const char* name = "random_crop";

  RandomCrop(const Params& params, const StageContext& context);
  static Schema schema();
  // The output is exactly size, as a compact copy; depth and channels are kept. A dimension
  // smaller than size is first padded, centred, with pad_value (as center_crop does).
  void apply(Sample& sample, const TransformContext& context) const override;
  bool is_random() const override { return true; }

  // The window apply cuts from an image of `padded` size (already at least size) for this index;
  // the position is uniform over every window that fits.
  cv::Rect draw(cv::Size padded, std::uint64_t index, const TransformContext& context) const;

 private:
  cv::Size size_;
  double pad_value_;
  std::uint64_t salt_;
};

} // namespace radpipe::augment
