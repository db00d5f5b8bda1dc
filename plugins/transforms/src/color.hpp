// Transform stages `grayscale` and `rgb`: the channel count a model expects.
#pragma once

#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace radpipe::transforms {

// RGB to one luma channel (0.299 R + 0.587 G + 0.114 B), keeping the depth; gray passes through.
class Grayscale final : public Transform {
 public:
  Grayscale(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;
  // One channel is all it keeps, so the reader may decode straight to grey.
  bool refine_decode_hint(DecodeHint& hint) const override;
};

// Gray to three equal channels, keeping the depth; RGB passes through.
class Rgb final : public Transform {
 public:
  Rgb(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;
};

} // namespace radpipe::transforms
