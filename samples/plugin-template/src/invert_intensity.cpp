// A complete radpipe plugin: one transform stage that inverts intensities (for radiographs stored
// bright-is-low), with its parameters declared as data so that `radpipe check` validates them and
// `radpipe inspect invert_intensity` documents them.
#include <radpipe/plugin.hpp>

#include <opencv2/core.hpp>

namespace {

class InvertIntensity : public radpipe::Transform {
public:
  static radpipe::Schema schema() {
    return {radpipe::ParamSpec::real("float_maximum", "Value that float images are inverted around (8/16-bit use their depth's maximum)")
                .with_default(1.0)
                .at_least(0.0)};
  }

  InvertIntensity(const radpipe::Params& params, const radpipe::StageContext&) : float_maximum_(params.real("float_maximum")) {}

  void apply(radpipe::Sample& sample, const radpipe::TransformContext&) const override {
    cv::Mat& image = sample.image;
    switch (image.depth()) {
    case CV_8U: cv::subtract(cv::Scalar::all(255), image, image); break;
    case CV_16U: cv::subtract(cv::Scalar::all(65535), image, image); break;
    case CV_32F: cv::subtract(cv::Scalar::all(float_maximum_), image, image); break;
    default: throw radpipe::SampleError(sample.info.path, "invert_intensity handles 8-bit, 16-bit and float images only");
    }
  }

private:
  double float_maximum_;
};

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<InvertIntensity>("invert_intensity", "Inverts intensities (MONOCHROME1 to MONOCHROME2)", InvertIntensity::schema());
}

} // namespace

RADPIPE_PLUGIN("invert_intensity", "1.0.0", "Template plugin: intensity inversion", register_stages)
