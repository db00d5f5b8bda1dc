// Augment stage `random_flip`: mirror left-right and/or top-bottom, each with its own probability.
#pragma once

#include <cstdint>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::augment {

struct FlipDraw {
  bool horizontal = false; // mirror left-right
  bool vertical = false;   // mirror top-bottom
};

class RandomFlip final : public Transform {
 public:
  static constexpr const char* name = "random_flip";

  RandomFlip(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;
  bool is_random() const override { return true; }

  // What apply does to the sample with this index; exposed so that tests check the draws.
  FlipDraw draw(std::uint64_t index, const TransformContext& context) const;

 private:
  double horizontal_, vertical_;
  std::uint64_t salt_;
};

} // namespace radpipe::augment
