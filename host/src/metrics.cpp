#include "metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>

namespace radpipe::host {

double auroc(std::span<const double> scores, std::span<const int> labels) {
  if (scores.size() != labels.size()) throw std::invalid_argument("auroc: scores and labels differ in length");
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] < scores[b]; });
  // Average ranks over ties, then U = sum of positive ranks - P(P+1)/2.
  double positive_rank_sum = 0.0;
  std::size_t positives = 0;
  for (std::size_t start = 0; start < order.size();) {
    std::size_t end = start;
    while (end < order.size() && scores[order[end]] == scores[order[start]]) ++end;
    const double average_rank = (static_cast<double>(start + 1) + static_cast<double>(end)) / 2.0;
    for (std::size_t i = start; i < end; ++i)
      if (labels[order[i]] == 1) {
        positive_rank_sum += average_rank;
        ++positives;
      }
    start = end;
  }
  const std::size_t negatives = scores.size() - positives;
  if (positives == 0 || negatives == 0) return std::numeric_limits<double>::quiet_NaN();
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1.0) / 2.0) / (p * static_cast<double>(negatives));
}

BinaryCounts count_outcomes(std::span<const int> predicted, std::span<const int> labels) {
  if (predicted.size() != labels.size()) throw std::invalid_argument("predictions and labels differ in length");
  BinaryCounts counts;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == 1) (predicted[i] == 1 ? counts.true_positive : counts.false_negative)++;
    else (predicted[i] == 1 ? counts.false_positive : counts.true_negative)++;
  }
  return counts;
}

double cohen_kappa(std::span<const int> predicted, std::span<const int> labels) {
  const BinaryCounts c = count_outcomes(predicted, labels);
  const double n = c.true_positive + c.false_positive + c.true_negative + c.false_negative;
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  const double observed = (c.true_positive + c.true_negative) / n;
  const double predicted_positive = (c.true_positive + c.false_positive) / n;
  const double actual_positive = (c.true_positive + c.false_negative) / n;
  const double expected = predicted_positive * actual_positive + (1 - predicted_positive) * (1 - actual_positive);
  if (expected >= 1.0) return std::numeric_limits<double>::quiet_NaN();
  return (observed - expected) / (1.0 - expected);
}

double BinaryCounts::accuracy() const {
  const int n = true_positive + false_positive + true_negative + false_negative;
  return n ? static_cast<double>(true_positive + true_negative) / n : std::numeric_limits<double>::quiet_NaN();
}
double BinaryCounts::sensitivity() const {
  const int positives = true_positive + false_negative;
  return positives ? static_cast<double>(true_positive) / positives : std::numeric_limits<double>::quiet_NaN();
}
double BinaryCounts::specificity() const {
  const int negatives = true_negative + false_positive;
  return negatives ? static_cast<double>(true_negative) / negatives : std::numeric_limits<double>::quiet_NaN();
}

std::vector<int> threshold_at(std::span<const double> scores, double threshold) {
  std::vector<int> predicted(scores.size());
  std::transform(scores.begin(), scores.end(), predicted.begin(), [&](double score) { return score >= threshold ? 1 : 0; });
  return predicted;
}

} // namespace radpipe::host
