// Binary classification metrics on probabilities and labels: the one implementation of each that
// `train` (validation) and `evaluate` (reports) share.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <vector>

namespace radpipe::host {

// Area under the ROC curve by the Mann-Whitney U statistic; tied scores count one half.
// NaN when one class is absent or a score is NaN.
double auroc(std::span<const double> scores, std::span<const int> labels);

// Cohen's kappa between predictions and labels (both 0/1). NaN when undefined (chance
// agreement of 1).
double cohen_kappa(std::span<const int> predicted, std::span<const int> labels);

struct BinaryCounts {
  int true_positive = 0, false_positive = 0, true_negative = 0, false_negative = 0;
  int total() const { return true_positive + false_positive + true_negative + false_negative; }
  double accuracy() const;
  double sensitivity() const;
  double specificity() const;
  double precision() const;
  // F1 of the positive class: 2TP / (2TP + FP + FN).
  double f1() const;
  // Unweighted mean of the F1 of each class (the negative class's F1 is 2TN / (2TN + FN + FP)),
  // so that a model that calls everything normal does not score well on a mostly normal set.
  double macro_f1() const;
  // Kappa from the counts alone; cohen_kappa() counts, then calls this.
  double kappa() const;
};

BinaryCounts count_outcomes(std::span<const int> predicted, std::span<const int> labels);

// A k x k confusion matrix (rows: true class, columns: predicted class) and what follows from it.
struct MulticlassCounts {
  std::vector<std::vector<int>> confusion;
  int total() const;
  double accuracy() const;
  double precision(std::size_t k) const; // NaN when class k was never predicted
  double recall(std::size_t k) const;    // NaN when class k never occurs
  double f1(std::size_t k) const;        // NaN when both are NaN; 0 when either is 0
  // Unweighted mean of the per-class F1 over the classes that occur or are predicted.
  double macro_f1() const;
};

// Labels outside [0, classes) are left out.
MulticlassCounts count_classes(std::span<const int> predicted, std::span<const int> labels, std::size_t classes);

// 1 where score >= threshold, else 0.
std::vector<int> threshold_at(std::span<const double> scores, double threshold);

// One operating point of the ROC curve: calling positive every score >= threshold.
struct RocPoint {
  double threshold = 0.0;
  double false_positive_rate = 0.0;
  double true_positive_rate = 0.0;
};

// The ROC curve from (0, 0) (threshold +infinity) to (1, 1): one point per distinct score, highest
// first, so ties move the curve diagonally. Empty when one class is absent or a score is NaN.
std::vector<RocPoint> roc_curve(std::span<const double> scores, std::span<const int> labels);

// The threshold (one of the scores) that maximises Youden's J = sensitivity + specificity - 1;
// among equal J the highest. Throws std::invalid_argument when one class is absent or a score is NaN.
double youden_threshold(std::span<const double> scores, std::span<const int> labels);

// The highest threshold (one of the scores) whose sensitivity reaches `target`: the most specific
// operating point that finds that share of positives. Throws std::invalid_argument when there is
// no positive case or a score is NaN.
double threshold_for_sensitivity(std::span<const double> scores, std::span<const int> labels, double target);

// The q-quantile (0..1) of `values` by linear interpolation between order statistics (Hyndman
// and Fan's type 7, numpy's default), q clamped to 0..1. Sorts `values`. NaN when empty, when q
// is NaN or when a value is NaN.
double quantile(std::vector<double>& values, double q);

// Mean and sample standard deviation (n - 1) of the finite values; NaN where undefined (sd of
// fewer than two values).
struct Spread {
  double mean = std::numeric_limits<double>::quiet_NaN();
  double sd = std::numeric_limits<double>::quiet_NaN();
  std::size_t count = 0; // finite values
};
Spread spread_of(std::span<const double> values);

struct Interval {
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
};

struct BootstrapOptions {
  std::size_t resamples = 0; // 0: no intervals
  std::uint64_t seed = 0;
  double level = 0.0; // coverage, e.g. 0.95
};

// A statistic of the cases whose indices are given (an index may repeat).
using ResampledStatistic = std::function<double(std::span<const std::size_t> cases)>;

// Percentile bootstrap intervals of several statistics of `case_count` cases: every statistic is
// evaluated, in the order given, on the same resamples (drawn with replacement by a mt19937_64 seeded with
// options.seed), and its interval spans the (1 - level)/2 and (1 + level)/2 quantiles of the
// finite values it took (resamples lacking a class give NaN AUROC and are left out).
std::vector<Interval> bootstrap_intervals(std::size_t case_count,
                                          const std::vector<ResampledStatistic>& statistics,
                                          const BootstrapOptions& options);

} // namespace radpipe::host
