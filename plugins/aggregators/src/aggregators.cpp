#include "aggregators.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <radpipe/error.hpp>
#include <string>
#include <vector>

namespace radpipe::aggregators {
namespace {

// A model that emits NaN or a logit in place of a probability would otherwise yield a plausible-
// looking but meaningless study score.
void require_probabilities(std::span<const double> probabilities, const char* stage) {
  if (probabilities.empty())
    throw StageError(std::string(stage) +
                     ": a study with no image probabilities cannot be aggregated; "
                     "every study needs at least one scored image");
  for (std::size_t i = 0; i < probabilities.size(); ++i)
    if (!(probabilities[i] >= 0.0 && probabilities[i] <= 1.0))
      throw StageError(std::string(stage) + ": image " + std::to_string(i) +
                       " of the study has probability " + std::to_string(probabilities[i]) +
                       ", outside [0, 1]; the model must output probabilities, not logits");
}

double max_of(std::span<const double> probabilities) {
  return *std::max_element(probabilities.begin(), probabilities.end());
}

} // namespace

Mean::Mean(const Params& /*params*/, const StageContext& /*context*/) {}
Schema Mean::schema() {
  return Schema{};
}
double Mean::aggregate(std::span<const double> image_probabilities) const {
  require_probabilities(image_probabilities, "mean");
  return std::accumulate(image_probabilities.begin(), image_probabilities.end(), 0.0) /
         static_cast<double>(image_probabilities.size());
}

Max::Max(const Params& /*params*/, const StageContext& /*context*/) {}
Schema Max::schema() {
  return Schema{};
}
double Max::aggregate(std::span<const double> image_probabilities) const {
  require_probabilities(image_probabilities, "max");
  return max_of(image_probabilities);
}

TopKMean::TopKMean(const Params& params, const StageContext& /*context*/) {
  const std::int64_t k = params.integer("k");
  if (k < 1) throw StageError("k", "must be at least 1, got " + std::to_string(k));
  k_ = static_cast<std::size_t>(k);
}
Schema TopKMean::schema() {
  return Schema{
      ParamSpec::integer("k", "How many of the highest image probabilities to average (all when fewer)")
          .with_default(2)
          .at_least(1)};
}
double TopKMean::aggregate(std::span<const double> image_probabilities) const {
  require_probabilities(image_probabilities, "top_k_mean");
  // A study has a handful of images, so this copy is small.
  std::vector<double> highest(image_probabilities.begin(), image_probabilities.end());
  const std::size_t count = std::min(k_, highest.size());
  std::partial_sort(highest.begin(), highest.begin() + static_cast<std::ptrdiff_t>(count), highest.end(),
                    std::greater<>());
  return std::accumulate(highest.begin(), highest.begin() + static_cast<std::ptrdiff_t>(count), 0.0) /
         static_cast<double>(count);
}

Majority::Majority(const Params& params, const StageContext& /*context*/)
    : threshold_(params.real("vote_threshold")) {
  if (!(threshold_ >= 0.0 && threshold_ <= 1.0))
    throw StageError("vote_threshold", "must be between 0 and 1, got " + std::to_string(threshold_));
}
Schema Majority::schema() {
  return Schema{ParamSpec::real("vote_threshold", "An image votes positive when its probability is at least this")
                    .with_default(ParamValue{0.5})
                    .in_range(0.0, 1.0)};
}
double Majority::aggregate(std::span<const double> image_probabilities) const {
  require_probabilities(image_probabilities, "majority");
  const auto positive = std::count_if(image_probabilities.begin(), image_probabilities.end(),
                                      [this](double probability) { return probability >= threshold_; });
  return static_cast<double>(positive) / static_cast<double>(image_probabilities.size());
}

AnyPositive::AnyPositive(const Params& /*params*/, const StageContext& /*context*/) {}
Schema AnyPositive::schema() {
  return Schema{};
}
double AnyPositive::aggregate(std::span<const double> image_probabilities) const {
  require_probabilities(image_probabilities, "any_positive");
  return max_of(image_probabilities);
}

} // namespace radpipe::aggregators
