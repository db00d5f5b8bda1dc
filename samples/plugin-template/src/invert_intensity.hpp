// The template's one stage, declared in a header of its own so that its unit test
// (tests/invert_intensity_test.cpp) can build and run it without the host.
#pragma once

#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>

namespace example {

// Inverts intensities (for radiographs stored bright-is-low, DICOM's MONOCHROME1).
class InvertIntensity : public radpipe::Transform {
 public:
  // Every parameter, with its default, range and doc: `radpipe check` validates pipelines against
  // it and `radpipe inspect invert_intensity` prints it. The schema's default is the only default.
  static radpipe::Schema schema();

  // `params` has been validated against schema(), every default filled in.
  InvertIntensity(const radpipe::Params& params, const radpipe::StageContext& context);

  // Runs on several worker threads at once: reads only members set in the constructor.
  void apply(radpipe::Sample& sample, const radpipe::TransformContext& context) const override;

 private:
  double float_maximum_;
};

} // namespace example
