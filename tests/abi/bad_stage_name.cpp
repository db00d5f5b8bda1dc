// A plugin that registers a stage whose name contains ':', which qualifies names by plugin.
#include <radpipe/plugin.hpp>

namespace {
class Identity : public radpipe::Transform {
 public:
  Identity(const radpipe::Params&, const radpipe::StageContext&) {}
  void apply(radpipe::Sample&, const radpipe::TransformContext&) const override {}
};

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<Identity>("acme:identity", "A name with a colon", {});
}
} // namespace

RADPIPE_PLUGIN("abi_bad_stage_name", "1.0.0", "Registers an unusable stage name", register_stages)
