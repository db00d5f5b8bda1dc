// Transform stages that remap intensities point by point: `min_max`, `percentile_clip`,
// `autocontrast` and `invert`. Statistics are taken over all channels together, so a colour
// image keeps its colour balance.
#pragma once

#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::transforms {

// To float in [0, 1] from the image's own minimum and maximum; a constant image becomes zeros.
class MinMax final : public Transform {
 public:
  MinMax(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;
};

// Clips to the image's `low` and `high` percentiles (nearest rank), then rescales that interval
// to float [0, 1]. Robust to the burned-in labels and collimator edges that defeat min_max.
class PercentileClip final : public Transform {
 public:
  PercentileClip(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;

 private:
  double low_, high_; // percent
};

// Stretches so that the `cutoff` percent darkest pixels become the depth's minimum and the
// `cutoff` percent brightest its maximum (0 and 255, 65535, or 1 for float), keeping the depth.
class Autocontrast final : public Transform {
 public:
  Autocontrast(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;

 private:
  double cutoff_; // percent, at each end
};

// Maximum of the depth minus the value: 255 - x, 65535 - x, or 1 - x for float. Turns
// MONOCHROME1-style radiographs (bone dark) into the usual bone-bright look.
class Invert final : public Transform {
 public:
  Invert(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;
};

} // namespace radpipe::transforms
