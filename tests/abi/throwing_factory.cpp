// A plugin whose stage constructor throws: the host must report plugin, stage and key.
#include <radpipe/plugin.hpp>

namespace {
class Explode : public radpipe::Transform {
public:
  Explode(const radpipe::Params& params, const radpipe::StageContext&) {
    throw radpipe::StageError("level", "level " + std::to_string(params.integer("level")) + " is too loud");
  }
  void apply(radpipe::Sample&, const radpipe::TransformContext&) const override {}
};

class ThrowsInt : public radpipe::Aggregator {
public:
  ThrowsInt(const radpipe::Params&, const radpipe::StageContext&) { throw 7; }
  double aggregate(std::span<const double>) const override { return 0.0; }
};

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<Explode>("explode", "Always fails to build",
                         radpipe::Schema{radpipe::ParamSpec::integer("level", "How loud").with_default(11)});
  registrar.add<ThrowsInt>("throws_int", "Throws something that is not an exception", {});
}
} // namespace

RADPIPE_PLUGIN("abi_throwing", "1.0.0", "Stages whose factories throw", register_stages)
