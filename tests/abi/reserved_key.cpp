// A plugin whose model stage declares `device`, a key radpipe reads itself in every model table:
// the loader must refuse it, naming the stage and the key.
#include <radpipe/plugin.hpp>

namespace {
class Averager : public radpipe::Aggregator {
public:
  Averager(const radpipe::Params&, const radpipe::StageContext&) {}
  double aggregate(std::span<const double>) const override { return 0.0; }
};

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<Averager>("averager", "Declares the host's threshold key as its own",
                          radpipe::Schema{radpipe::ParamSpec::real("threshold", "Clashes with [aggregate] threshold").with_default(0.5)});
}
} // namespace

RADPIPE_PLUGIN("abi_reserved_key", "1.0.0", "A stage that reuses a key the host owns", register_stages)
