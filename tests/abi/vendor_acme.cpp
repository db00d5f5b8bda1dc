// A vendor's plugin, as the tests see one: full metadata, an aggregator called `mean` (the
// built-in aggregators plugin has one), a transform called `add_offset` (abi_good has one), and a
// transform that fails on chosen images. A pipeline naming `mean` without its plugin is
// ambiguous; `acme:mean` chooses this one, whose "mean" is the maximum, so that a run shows which
// one served.
#include <algorithm>
#include <radpipe/plugin.hpp>
#include <stdexcept>

namespace {
class MaxCalledMean : public radpipe::Aggregator {
 public:
  MaxCalledMean(const radpipe::Params&, const radpipe::StageContext&) {}
  double aggregate(std::span<const double> probabilities) const override {
    return probabilities.empty() ? 0.0 : *std::max_element(probabilities.begin(), probabilities.end());
  }
};

class AddNothing : public radpipe::Transform {
 public:
  AddNothing(const radpipe::Params&, const radpipe::StageContext&) {}
  void apply(radpipe::Sample&, const radpipe::TransformContext&) const override {}
};

// Throws a plain std::runtime_error (not a SampleError) on the images whose id contains `id`:
// a bug in a vendor's stage, which must fail that image only and be attributed to it.
class FailOn : public radpipe::Transform {
 public:
  FailOn(const radpipe::Params& params, const radpipe::StageContext&) : id_(params.string("id")) {}
  void apply(radpipe::Sample& sample, const radpipe::TransformContext&) const override {
    if (sample.info.id.find(id_) != std::string::npos)
      throw std::out_of_range("index 7 out of range in acme's lookup table");
  }

 private:
  std::string id_;
};

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<MaxCalledMean>("mean", "Acme's study aggregation (the maximum, whatever the name says)", {});
  registrar.add<AddNothing>("add_offset", "Acme's add_offset, which adds nothing", {});
  registrar.add<FailOn>("fail_on", "Throws std::out_of_range on the images whose id contains `id`",
                        radpipe::Schema{radpipe::ParamSpec::string("id", "Part of the ids to fail on")});
}
} // namespace

RADPIPE_PLUGIN_DEFINE(register_stages, .name = "acme", .version = "2.1.0",
                      .description = "A vendor's plugin whose names clash", .license = "Apache-2.0",
                      .vendor = "Acme Imaging", .url = "https://acme.example/radpipe",
                      .min_host_version = "0.2.0")
