#include "runtime/mixup.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

using radpipe::host::draw_mixup;
using radpipe::host::MixupDraw;

TEST(Mixup, TheSameSeedsGiveTheSameDrawAndOtherStepsAnother) {
  const MixupDraw first = draw_mixup(0.2, 16, {7, 1, 0});
  const MixupDraw again = draw_mixup(0.2, 16, {7, 1, 0});
  EXPECT_EQ(first.lambda, again.lambda);
  EXPECT_EQ(first.partner, again.partner);
  const MixupDraw next = draw_mixup(0.2, 16, {7, 2, 0});
  EXPECT_TRUE(next.lambda != first.lambda || next.partner != first.partner);
}

TEST(Mixup, PartnersArePermutationsOfTheBatch) {
  for (std::uint64_t step = 1; step <= 20; ++step) {
    MixupDraw draw = draw_mixup(1.0, 9, {3, step});
    ASSERT_EQ(draw.partner.size(), 9u);
    std::sort(draw.partner.begin(), draw.partner.end());
    std::vector<std::int64_t> expected(9);
    std::iota(expected.begin(), expected.end(), std::int64_t{0});
    EXPECT_EQ(draw.partner, expected);
  }
}

// Beta(alpha, alpha) has mean 1/2 and variance 1 / (4 (2 alpha + 1)): 1/12 at alpha = 1 (uniform),
// 1/5.6 at 0.2, where most draws lie near 0 or 1.
TEST(Mixup, LambdaFollowsTheBetaDistribution) {
  for (const double alpha : {0.2, 1.0, 4.0}) {
    SCOPED_TRACE(alpha);
    const int draws = 20000;
    double sum = 0, squares = 0;
    for (int i = 0; i < draws; ++i) {
      const double lambda = draw_mixup(alpha, 2, {11, static_cast<std::uint64_t>(i)}).lambda;
      ASSERT_GE(lambda, 0.0);
      ASSERT_LE(lambda, 1.0);
      sum += lambda;
      squares += lambda * lambda;
    }
    const double mean = sum / draws, variance = squares / draws - mean * mean;
    EXPECT_NEAR(mean, 0.5, 0.01);
    EXPECT_NEAR(variance, 1.0 / (4.0 * (2.0 * alpha + 1.0)), 0.005);
  }
}

TEST(Mixup, RefusesANonPositiveAlpha) { EXPECT_THROW(draw_mixup(0.0, 4, {1}), std::invalid_argument); }
