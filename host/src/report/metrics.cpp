#include "report/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>

namespace radpipe::host {
namespace {

constexpr double not_a_number = std::numeric_limits<double>::quiet_NaN();

double ratio(int numerator, int denominator) {
  return denominator ? static_cast<double>(numerator) / denominator : not_a_number;
}

void require_same_length(std::size_t scores, std::size_t labels, const char* what) {
  if (scores != labels)
    throw std::invalid_argument(std::string(what) + ": scores and labels differ in length");
}

// A NaN score has no rank: sorting by it breaks std::sort's ordering contract, and a tie group
// that starts at a NaN never ends (NaN != NaN). Every ranking metric checks for one first.
bool any_nan(std::span<const double> values) {
  return std::any_of(values.begin(), values.end(), [](double value) { return std::isnan(value); });
}

} // namespace

double auroc(std::span<const double> scores, std::span<const int> labels) {
  require_same_length(scores.size(), labels.size(), "auroc");
  if (any_nan(scores)) return not_a_number;
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
  if (positives == 0 || negatives == 0) return not_a_number;
  const double p = static_cast<double>(positives);
  return (positive_rank_sum - p * (p + 1.0) / 2.0) / (p * static_cast<double>(negatives));
}

BinaryCounts count_outcomes(std::span<const int> predicted, std::span<const int> labels) {
  if (predicted.size() != labels.size())
    throw std::invalid_argument("predictions and labels differ in length");
  BinaryCounts counts;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] == 1)
      (predicted[i] == 1 ? counts.true_positive : counts.false_negative)++;
    else
      (predicted[i] == 1 ? counts.false_positive : counts.true_negative)++;
  }
  return counts;
}

double cohen_kappa(std::span<const int> predicted, std::span<const int> labels) {
  return count_outcomes(predicted, labels).kappa();
}

double BinaryCounts::kappa() const {
  const double n = total();
  if (n == 0) return not_a_number;
  const double observed = (true_positive + true_negative) / n;
  const double predicted_positive = (true_positive + false_positive) / n;
  const double actual_positive = (true_positive + false_negative) / n;
  const double expected =
      predicted_positive * actual_positive + (1 - predicted_positive) * (1 - actual_positive);
  if (expected >= 1.0) return not_a_number;
  return (observed - expected) / (1.0 - expected);
}

double BinaryCounts::accuracy() const {
  return ratio(true_positive + true_negative, total());
}
double BinaryCounts::sensitivity() const {
  return ratio(true_positive, true_positive + false_negative);
}
double BinaryCounts::specificity() const {
  return ratio(true_negative, true_negative + false_positive);
}
double BinaryCounts::precision() const {
  return ratio(true_positive, true_positive + false_positive);
}
double BinaryCounts::f1() const {
  return ratio(2 * true_positive, 2 * true_positive + false_positive + false_negative);
}
double BinaryCounts::macro_f1() const {
  const double negative_f1 = ratio(2 * true_negative, 2 * true_negative + false_negative + false_positive);
  return (f1() + negative_f1) / 2.0;
}

std::vector<int> threshold_at(std::span<const double> scores, double threshold) {
  std::vector<int> predicted(scores.size());
  std::transform(scores.begin(), scores.end(), predicted.begin(),
                 [&](double score) { return score >= threshold ? 1 : 0; });
  return predicted;
}

std::vector<RocPoint> roc_curve(std::span<const double> scores, std::span<const int> labels) {
  require_same_length(scores.size(), labels.size(), "roc_curve");
  const auto positives = static_cast<double>(std::count(labels.begin(), labels.end(), 1));
  const auto negatives = static_cast<double>(labels.size()) - positives;
  if (positives == 0 || negatives == 0 || any_nan(scores)) return {};
  std::vector<std::size_t> order(scores.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return scores[a] > scores[b]; });
  std::vector<RocPoint> curve{{std::numeric_limits<double>::infinity(), 0.0, 0.0}};
  double true_positives = 0, false_positives = 0;
  for (std::size_t start = 0; start < order.size();) {
    const double score = scores[order[start]];
    for (; start < order.size() && scores[order[start]] == score; ++start)
      (labels[order[start]] == 1 ? true_positives : false_positives) += 1;
    curve.push_back({score, false_positives / negatives, true_positives / positives});
  }
  return curve;
}

double youden_threshold(std::span<const double> scores, std::span<const int> labels) {
  const auto curve = roc_curve(scores, labels);
  if (curve.empty())
    throw std::invalid_argument(any_nan(scores) ? "Youden's threshold needs scores that are numbers, not NaN"
                                                : "Youden's threshold needs both positive and negative cases");
  const RocPoint* best = &curve[1];
  for (std::size_t i = 1; i < curve.size(); ++i)
    if (curve[i].true_positive_rate - curve[i].false_positive_rate >
        best->true_positive_rate - best->false_positive_rate)
      best = &curve[i];
  return best->threshold;
}

double threshold_for_sensitivity(std::span<const double> scores, std::span<const int> labels, double target) {
  require_same_length(scores.size(), labels.size(), "threshold_for_sensitivity");
  if (any_nan(scores)) throw std::invalid_argument("a target sensitivity needs scores that are numbers, not NaN");
  std::vector<double> positive_scores;
  for (std::size_t i = 0; i < scores.size(); ++i)
    if (labels[i] == 1) positive_scores.push_back(scores[i]);
  if (positive_scores.empty()) throw std::invalid_argument("a target sensitivity needs positive cases");
  // Sensitivity at threshold t is the share of positive scores >= t; the k-th highest positive
  // score is the highest threshold that keeps k positives, and k = ceil(target * P) is the least
  // that reaches the target.
  std::sort(positive_scores.begin(), positive_scores.end(), std::greater<>());
  const double needed = std::ceil(target * static_cast<double>(positive_scores.size()) - 1e-9);
  const auto keep =
      std::clamp<std::size_t>(static_cast<std::size_t>(std::max(needed, 1.0)), 1, positive_scores.size());
  return positive_scores[keep - 1];
}

double quantile(std::vector<double>& values, double q) {
  if (values.empty() || std::isnan(q) || any_nan(values)) return not_a_number;
  std::sort(values.begin(), values.end());
  const double position = std::clamp(q, 0.0, 1.0) * static_cast<double>(values.size() - 1);
  const auto below = static_cast<std::size_t>(std::floor(position));
  const auto above = std::min(below + 1, values.size() - 1);
  return values[below] + (position - static_cast<double>(below)) * (values[above] - values[below]);
}

Spread spread_of(std::span<const double> values) {
  Spread spread;
  double sum = 0.0;
  for (double value : values)
    if (std::isfinite(value)) {
      sum += value;
      ++spread.count;
    }
  if (spread.count == 0) return spread;
  spread.mean = sum / static_cast<double>(spread.count);
  if (spread.count < 2) return spread;
  double squares = 0.0;
  for (double value : values)
    if (std::isfinite(value)) squares += (value - spread.mean) * (value - spread.mean);
  spread.sd = std::sqrt(squares / static_cast<double>(spread.count - 1));
  return spread;
}

std::vector<Interval> bootstrap_intervals(std::size_t case_count,
                                          const std::vector<ResampledStatistic>& statistics,
                                          const BootstrapOptions& options) {
  std::vector<Interval> intervals(statistics.size());
  if (options.resamples == 0 || case_count == 0) return intervals;
  std::mt19937_64 random(options.seed);
  std::uniform_int_distribution<std::size_t> pick(0, case_count - 1);
  std::vector<std::vector<double>> values(statistics.size());
  for (auto& column : values) column.reserve(options.resamples);
  std::vector<std::size_t> cases(case_count);
  for (std::size_t resample = 0; resample < options.resamples; ++resample) {
    for (auto& index : cases) index = pick(random);
    for (std::size_t s = 0; s < statistics.size(); ++s)
      if (const double value = statistics[s](cases); std::isfinite(value)) values[s].push_back(value);
  }
  const double tail = (1.0 - options.level) / 2.0;
  for (std::size_t s = 0; s < statistics.size(); ++s) {
    intervals[s].low = quantile(values[s], tail);
    intervals[s].high = quantile(values[s], 1.0 - tail);
  }
  return intervals;
}

int MulticlassCounts::total() const {
  int sum = 0;
  for (const auto& row : confusion)
    for (int count : row) sum += count;
  return sum;
}

double MulticlassCounts::accuracy() const {
  int correct = 0;
  for (std::size_t k = 0; k < confusion.size(); ++k) correct += confusion[k][k];
  const int all = total();
  return all == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(correct) / all;
}

double MulticlassCounts::precision(std::size_t k) const {
  int predicted = 0;
  for (const auto& row : confusion) predicted += row[k];
  return predicted == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(confusion[k][k]) / predicted;
}

double MulticlassCounts::recall(std::size_t k) const {
  int actual = 0;
  for (int count : confusion[k]) actual += count;
  return actual == 0 ? std::numeric_limits<double>::quiet_NaN() : static_cast<double>(confusion[k][k]) / actual;
}

double MulticlassCounts::f1(std::size_t k) const {
  const double p = precision(k), r = recall(k);
  if (std::isnan(p) && std::isnan(r)) return std::numeric_limits<double>::quiet_NaN();
  if (std::isnan(p) || std::isnan(r) || p + r == 0.0) return 0.0;
  return 2.0 * p * r / (p + r);
}

double MulticlassCounts::macro_f1() const {
  double sum = 0.0;
  int classes = 0;
  for (std::size_t k = 0; k < confusion.size(); ++k)
    if (const double value = f1(k); !std::isnan(value)) {
      sum += value;
      ++classes;
    }
  return classes == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / classes;
}

MulticlassCounts count_classes(std::span<const int> predicted, std::span<const int> labels, std::size_t classes) {
  MulticlassCounts counts;
  counts.confusion.assign(classes, std::vector<int>(classes, 0));
  for (std::size_t i = 0; i < predicted.size() && i < labels.size(); ++i) {
    if (labels[i] < 0 || predicted[i] < 0 || static_cast<std::size_t>(labels[i]) >= classes || static_cast<std::size_t>(predicted[i]) >= classes)
      continue;
    ++counts.confusion[static_cast<std::size_t>(labels[i])][static_cast<std::size_t>(predicted[i])];
  }
  return counts;
}

} // namespace radpipe::host
