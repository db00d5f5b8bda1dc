// Binary classification metrics on probabilities and labels.
#pragma once

#include <span>
#include <vector>

namespace radpipe::host {

// Area under the ROC curve by the Mann-Whitney U statistic; tied scores count one half.
// NaN when one class is absent.
double auroc(std::span<const double> scores, std::span<const int> labels);

// Cohen's kappa between predictions and labels (both 0/1). NaN when undefined (chance
// agreement of 1).
double cohen_kappa(std::span<const int> predicted, std::span<const int> labels);

struct BinaryCounts {
  int true_positive = 0, false_positive = 0, true_negative = 0, false_negative = 0;
  double accuracy() const;
  double sensitivity() const;
  double specificity() const;
};

BinaryCounts count_outcomes(std::span<const int> predicted, std::span<const int> labels);

std::vector<int> threshold_at(std::span<const double> scores, double threshold);

} // namespace radpipe::host
