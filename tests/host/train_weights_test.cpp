#include "commands/train.hpp"

#include <gtest/gtest.h>

using radpipe::host::class_weights_for;

// MURA (Rajpurkar et al.): w_abnormal = |N| / (|A| + |N|), w_normal = |A| / (|A| + |N|).
// With 30 abnormal and 70 normal images: 70/100 and 30/100.
TEST(ClassWeights, FollowTheMuraFormula) {
  auto weights = class_weights_for("per_part", 30, 70, 0, 0, 0);
  EXPECT_DOUBLE_EQ(weights.positive, 0.7);
  EXPECT_DOUBLE_EQ(weights.negative, 0.3);
  EXPECT_DOUBLE_EQ(class_weights_for("global", 30, 70, 0, 0, 0).positive, 0.7);
}

// The standardization report: w_pos = 1 + (N + b) / P, w_neg = 1 + P / N. P = 20, N = 80, b = 4:
// 1 + 84/20 = 5.2 and 1 + 20/80 = 1.25.
TEST(ClassWeights, FollowTheStandardizationFormula) {
  auto weights = class_weights_for("standardization", 20, 80, 0, 0, 4);
  EXPECT_DOUBLE_EQ(weights.positive, 5.2);
  EXPECT_DOUBLE_EQ(weights.negative, 1.25);
}

TEST(ClassWeights, ExplicitNoneAndDegenerateCounts) {
  auto weights = class_weights_for("explicit", 20, 80, 3.0, 0.5, 0);
  EXPECT_DOUBLE_EQ(weights.positive, 3.0);
  EXPECT_DOUBLE_EQ(weights.negative, 0.5);
  EXPECT_DOUBLE_EQ(class_weights_for("none", 20, 80, 0, 0, 0).positive, 1.0);
  EXPECT_DOUBLE_EQ(class_weights_for("per_part", 0, 80, 0, 0, 0).positive, 1.0) << "no positives: no reweighting";
}
