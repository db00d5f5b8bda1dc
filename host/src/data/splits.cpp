#include "data/splits.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <random>
#include <stdexcept>

namespace radpipe::host {
namespace {

// A uniform draw from [0, bound) by rejection, the same on every platform.
std::uint64_t uniform_below(std::mt19937_64& random, std::uint64_t bound) {
  const std::uint64_t limit =
      std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
  std::uint64_t draw;
  do draw = random();
  while (draw >= limit);
  return draw % bound;
}

struct Group {
  std::size_t size = 0;
  std::map<std::size_t, std::size_t> strata; // stratum index -> items
};

} // namespace

SplitPlan SplitPlan::holdout(double valid_fraction, std::uint64_t seed) {
  return {{1.0 - valid_fraction, valid_fraction}, seed};
}

SplitPlan SplitPlan::k_fold(std::size_t folds, std::uint64_t seed) {
  return {std::vector<double>(folds, 1.0 / static_cast<double>(folds)), seed};
}

std::string split_group(const SampleInfo& info) {
  if (!info.patient_id.empty()) return "patient:" + info.patient_id;
  if (!info.study_id.empty()) return "study:" + info.study_id;
  return "image:" + info.id;
}

std::string split_stratum(const SampleInfo& info) {
  return (info.label ? std::to_string(*info.label) : std::string("unlabelled")) + "|" + info.body_part;
}

std::vector<std::size_t> assign_folds(const std::vector<SplitItem>& items, const SplitPlan& plan) {
  const std::size_t folds = plan.fractions.size();
  if (folds < 2) throw std::invalid_argument("a split needs at least 2 folds");
  for (double fraction : plan.fractions)
    if (!(fraction > 0.0 && fraction < 1.0))
      throw std::invalid_argument("every fold's share must be between 0 and 1");

  std::map<std::string, std::size_t> group_index, stratum_index;
  std::vector<Group> groups;
  std::vector<std::size_t> item_group(items.size());
  std::vector<double> stratum_totals;
  for (std::size_t i = 0; i < items.size(); ++i) {
    auto [group, new_group] = group_index.try_emplace(items[i].group, groups.size());
    if (new_group) groups.emplace_back();
    auto [stratum, new_stratum] = stratum_index.try_emplace(items[i].stratum, stratum_totals.size());
    if (new_stratum) stratum_totals.push_back(0.0);
    item_group[i] = group->second;
    ++groups[group->second].size;
    ++groups[group->second].strata[stratum->second];
    stratum_totals[stratum->second] += 1.0;
  }

  // Seeded order, then the largest groups first: small groups placed last even out what the large
  // ones left (as in bin packing).
  std::vector<std::size_t> order(groups.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 random(plan.seed);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[uniform_below(random, i)]);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return groups[a].size > groups[b].size; });

  // Greedy: each group goes to the fold where it most reduces the squared distance of the
  // per-stratum and total counts from their targets.
  const double total = static_cast<double>(items.size());
  std::vector<std::vector<double>> counts(folds, std::vector<double>(stratum_totals.size(), 0.0));
  std::vector<double> sizes(folds, 0.0);
  std::vector<std::size_t> group_fold(groups.size());
  for (std::size_t g : order) {
    const Group& group = groups[g];
    std::size_t best = 0;
    double best_cost = 0.0, best_fill = 0.0;
    for (std::size_t f = 0; f < folds; ++f) {
      double cost = 0.0;
      for (const auto& [s, n] : group.strata) {
        const double deficit = counts[f][s] - stratum_totals[s] * plan.fractions[f];
        cost += 2.0 * deficit * static_cast<double>(n) + static_cast<double>(n * n);
      }
      const double size_deficit = sizes[f] - total * plan.fractions[f];
      const double n = static_cast<double>(group.size);
      cost += 2.0 * size_deficit * n + n * n;
      const double fill = sizes[f] / (total * plan.fractions[f]);
      if (f == 0 || cost < best_cost - 1e-9 || (std::abs(cost - best_cost) <= 1e-9 && fill < best_fill)) {
        best = f;
        best_cost = cost;
        best_fill = fill;
      }
    }
    group_fold[g] = best;
    for (const auto& [s, n] : group.strata) counts[best][s] += static_cast<double>(n);
    sizes[best] += static_cast<double>(group.size);
  }

  std::vector<std::size_t> fold_of_item(items.size());
  for (std::size_t i = 0; i < items.size(); ++i) fold_of_item[i] = group_fold[item_group[i]];
  return fold_of_item;
}

} // namespace radpipe::host
