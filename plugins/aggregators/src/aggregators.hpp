// Aggregator stages: one probability per study from the probabilities of its images. Each throws
// StageError for an empty study, or for a probability that is not a number in [0, 1].
#pragma once

#include <cstddef>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <span>

namespace radpipe::aggregators {

// The arithmetic mean: the MURA baseline's choice.
class Mean final : public Aggregator {
 public:
  Mean(const Params& params, const StageContext& context);
  static Schema schema();
  double aggregate(std::span<const double> image_probabilities) const override;
};

// The most suspicious image decides.
class Max final : public Aggregator {
 public:
  Max(const Params& params, const StageContext& context);
  static Schema schema();
  double aggregate(std::span<const double> image_probabilities) const override;
};

// The mean of the k highest probabilities (of all of them when the study has fewer than k):
// between mean and max, robust to one noisy view.
class TopKMean final : public Aggregator {
 public:
  TopKMean(const Params& params, const StageContext& context);
  static Schema schema();
  double aggregate(std::span<const double> image_probabilities) const override;

 private:
  std::size_t k_;
};

// The share of images voting positive (probability >= threshold); a study decision threshold of
// 0.5 on it is a majority vote with ties counted positive.
class Majority final : public Aggregator {
 public:
  Majority(const Params& params, const StageContext& context);
  static Schema schema();
  double aggregate(std::span<const double> image_probabilities) const override;

 private:
  double threshold_;
};

// The maximum probability. Under a decision threshold t, max >= t exactly when any image is
// >= t, so this is the any-positive rule at the pipeline's own threshold, with no threshold of its
// own that could disagree with it.
class AnyPositive final : public Aggregator {
 public:
  AnyPositive(const Params& params, const StageContext& context);
  static Schema schema();
  double aggregate(std::span<const double> image_probabilities) const override;
};

} // namespace radpipe::aggregators
