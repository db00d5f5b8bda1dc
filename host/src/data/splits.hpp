// Patient-level, stratified, seeded splits of a dataset listing: a holdout (train/valid) or k
// folds. No group (patient) is ever in two folds, and every stratum (label and body part) is
// spread over the folds in proportion, within about one group of its target.
#pragma once

#include <cstddef>
#include <cstdint>
#include <radpipe/sample.hpp>
#include <string>
#include <vector>

namespace radpipe::host {

struct SplitItem {
  std::string group;   // items of one group always share a fold
  std::string stratum; // items are balanced per stratum
};

struct SplitPlan {
  // The share of the items each fold should get, summing to 1: {0.8, 0.2} for an 80/20 holdout
  // (fold 0 train, fold 1 valid), k times 1/k for k folds.
  std::vector<double> fractions;
  std::uint64_t seed = 0;

  static SplitPlan holdout(double valid_fraction, std::uint64_t seed);
  static SplitPlan k_fold(std::size_t folds, std::uint64_t seed);
};

// The fold of every item. The same items, plan and seed give the same folds on every platform
// (the shuffle uses std::mt19937_64 and no standard-library distribution, whose output is not
// specified). Throws std::invalid_argument for a plan without folds or with a fraction outside (0, 1).
std::vector<std::size_t> assign_folds(const std::vector<SplitItem>& items, const SplitPlan& plan);

// The group of a listed image: its patient; else its study; else the image alone.
std::string split_group(const SampleInfo& info);
// The stratum of a listed image: its label and body part.
std::string split_stratum(const SampleInfo& info);

} // namespace radpipe::host
