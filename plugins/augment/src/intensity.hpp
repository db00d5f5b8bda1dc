// Augment stage `random_intensity`: random autocontrast, gamma, contrast, brightness and Gaussian
// noise, in that order. Intensities are handled on a [0, 1] scale: 8-bit pixels are divided by
// 255 and 16-bit by 65535, then written back rounded and saturated to the depth; float pixels are
// taken to be on [0, 1] already and are not clipped afterwards (gamma alone sees negatives as 0).
#pragma once

#include <cstdint>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::augment {

struct IntensityDraw {
  bool autocontrast = false;   // stretch the image's own min..max to 0..1 first
  double gamma = 1.0;          // x^gamma
  double contrast = 1.0;       // factor about the image mean
  double brightness = 0.0;     // added, as a fraction of the range
  std::uint64_t noise_seed = 0; // seeds the per-pixel Gaussian noise
};

class RandomIntensity final : public Transform {
 public:
  static constexpr const char* name = "random_intensity";

  RandomIntensity(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;
  bool is_random() const override { return true; }

  // What apply does to the sample with this index; exposed so that tests check the draws.
  IntensityDraw draw(std::uint64_t index, const TransformContext& context) const;

 private:
  double brightness_, contrast_, gamma_low_, gamma_high_, noise_std_, autocontrast_probability_;
  std::uint64_t salt_;
};

} // namespace radpipe::augment
