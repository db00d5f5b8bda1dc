// The `aggregators` plugin: study verdicts from image probabilities.
#include <radpipe/plugin.hpp>

#include "aggregators.hpp"

namespace {
void register_aggregators(radpipe::PluginRegistrar& registrar) {
  using namespace radpipe::aggregators;
  registrar.add<Mean>("mean", "Mean of the image probabilities (the MURA baseline)", Mean::schema());
  registrar.add<Max>("max", "Highest image probability", Max::schema());
  registrar.add<TopKMean>("top_k_mean", "Mean of the k highest image probabilities", TopKMean::schema());
  registrar.add<Majority>("majority", "Share of images at or above a vote threshold", Majority::schema());
  registrar.add<AnyPositive>("any_positive",
                             "Highest image probability: positive when any image is, at the study threshold",
                             AnyPositive::schema());
}
} // namespace

RADPIPE_PLUGIN("aggregators", "0.1.0", "Study-level aggregation of image probabilities", register_aggregators)
