#include "report/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>

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
