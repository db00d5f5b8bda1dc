// A well-formed plugin: the control case of the ABI tests, and proof that an object made by a
// plugin keeps its library loaded.
#include <radpipe/plugin.hpp>

#include <opencv2/core.hpp>

namespace {
class AddOffset : public radpipe::Transform {
public:
  AddOffset(const radpipe::Params& params, const radpipe::StageContext&) : offset_(params.real("offset")) {}
  void apply(radpipe::Sample& sample, const radpipe::TransformContext&) const override { cv::add(sample.image, cv::Scalar::all(offset_), sample.image); }

private:
  double offset_;
};

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<AddOffset>("add_offset", "Adds a constant to every pixel",
                           radpipe::Schema{radpipe::ParamSpec::real("offset", "Value added").with_default(radpipe::ParamValue{1.0})});
}
} // namespace

RADPIPE_PLUGIN("abi_good", "1.0.0", "A correct plugin for the loader tests", register_stages)
