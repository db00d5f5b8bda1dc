#include "report/metrics.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

using namespace radpipe::host;

// Scores 0.1 0.4 0.35 0.8 with labels 0 0 1 1: of the 4 positive-negative pairs, (0.35 vs 0.4) is
// the only one ranked wrongly, so AUROC = 3/4.
TEST(Metrics, AurocCountsCorrectlyOrderedPairs) {
  std::vector<double> scores{0.1, 0.4, 0.35, 0.8};
  std::vector<int> labels{0, 0, 1, 1};
  EXPECT_DOUBLE_EQ(auroc(scores, labels), 0.75);
}

// Ties count one half: positive 0.5 against negatives 0.5 and 0.2 gives (0.5 + 1) / 2 = 0.75.
TEST(Metrics, AurocCountsTiesAsHalf) {
  std::vector<double> scores{0.5, 0.5, 0.2};
  std::vector<int> labels{1, 0, 0};
  EXPECT_DOUBLE_EQ(auroc(scores, labels), 0.75);
  EXPECT_TRUE(std::isnan(auroc(std::vector<double>{0.1, 0.2}, std::vector<int>{1, 1})));
}

// 10 cases: TP 4, FN 1, FP 2, TN 3. p_o = 7/10; p_yes = (6/10)(5/10) = 0.3, p_no = (4/10)(5/10) = 0.2,
// p_e = 0.5; kappa = (0.7 - 0.5) / 0.5 = 0.4.
TEST(Metrics, CohenKappaOnAWorkedExample) {
  std::vector<int> labels{1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
  std::vector<int> predicted{1, 1, 1, 1, 0, 1, 1, 0, 0, 0};
  EXPECT_NEAR(cohen_kappa(predicted, labels), 0.4, 1e-12);
  auto counts = count_outcomes(predicted, labels);
  EXPECT_EQ(counts.true_positive, 4);
  EXPECT_EQ(counts.false_positive, 2);
  EXPECT_DOUBLE_EQ(counts.sensitivity(), 0.8);
  EXPECT_DOUBLE_EQ(counts.specificity(), 0.6);
  EXPECT_DOUBLE_EQ(counts.accuracy(), 0.7);
}

// Every metric on the inputs a diverged model or an empty split produces: NaN and infinite scores,
// no cases, one constant score. Each must return (NaN where undefined) or throw
// std::invalid_argument; none may hang or read out of bounds. NaN scores once made the AUROC loop
// spin forever (a NaN never equals itself, so its tie group never ended).
TEST(Metrics, EveryMetricTerminatesOnNanInfEmptyAndConstantInputs) {
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  struct Case {
    const char* name;
    std::vector<double> scores;
    std::vector<int> labels;
  };
  const std::vector<Case> cases{
      {"all NaN", {nan, nan, nan, nan}, {0, 1, 0, 1}},
      {"some NaN", {0.2, nan, 0.7, nan}, {0, 1, 1, 0}},
      {"infinite", {inf, -inf, inf, 0.5}, {1, 0, 0, 1}},
      {"NaN and infinite", {nan, inf, -inf, nan}, {1, 1, 0, 0}},
      {"empty", {}, {}},
      {"constant", {0.5, 0.5, 0.5, 0.5}, {0, 1, 0, 1}},
      {"one class", {0.1, 0.9}, {1, 1}},
      {"labels beyond 0/1", {0.1, 0.9, 0.4}, {2, -1, 1}},
  };
  for (const auto& [name, scores, labels] : cases) {
    SCOPED_TRACE(name);
    const bool has_nan = std::any_of(scores.begin(), scores.end(), [](double s) { return std::isnan(s); });
    const double area = auroc(scores, labels);
    if (has_nan || scores.empty()) {
      EXPECT_TRUE(std::isnan(area)) << area;
    } else if (!std::isnan(area)) {
      EXPECT_TRUE(area >= 0.0 && area <= 1.0) << area;
    }
    const auto curve = roc_curve(scores, labels);
    if (has_nan) {
      EXPECT_TRUE(curve.empty());
    }
    for (const auto& point : curve) {
      EXPECT_TRUE(point.false_positive_rate >= 0.0 && point.false_positive_rate <= 1.0);
      EXPECT_TRUE(point.true_positive_rate >= 0.0 && point.true_positive_rate <= 1.0);
    }
    try {
      const double threshold = youden_threshold(scores, labels);
      EXPECT_FALSE(std::isnan(threshold));
    } catch (const std::invalid_argument&) {
    }
    try {
      const double threshold = threshold_for_sensitivity(scores, labels, 0.9);
      EXPECT_FALSE(std::isnan(threshold));
    } catch (const std::invalid_argument&) {
    }
    const auto predicted = threshold_at(scores, 0.5);
    ASSERT_EQ(predicted.size(), scores.size());
    const BinaryCounts counts = count_outcomes(predicted, labels);
    EXPECT_EQ(counts.total(), static_cast<int>(scores.size()));
    for (double value : {counts.accuracy(), counts.sensitivity(), counts.specificity(), counts.precision(), counts.f1(),
                         counts.macro_f1(), counts.kappa(), cohen_kappa(predicted, labels)})
      EXPECT_TRUE(std::isnan(value) || (value >= -1.0 && value <= 1.0)) << value;
    std::vector<double> values = scores;
    const double median = quantile(values, 0.5);
    if (has_nan || scores.empty()) {
      EXPECT_TRUE(std::isnan(median));
    }
    for (double q : {nan, -1.0, 2.0}) {
      std::vector<double> again = scores;
      (void)quantile(again, q); // terminates without reading outside the values
    }
    const auto intervals = bootstrap_intervals(
        scores.size(), {[&](std::span<const std::size_t> picked) {
                          std::vector<double> s;
                          std::vector<int> l;
                          for (auto i : picked) {
                            s.push_back(scores[i]);
                            l.push_back(labels[i]);
                          }
                          return auroc(s, l);
                        }},
        {20, 1, 0.95});
    ASSERT_EQ(intervals.size(), 1u);
  }
}
