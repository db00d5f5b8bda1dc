#include "seeding.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "test_support.hpp"

namespace radpipe::augment {
namespace {

using testing::params;
using testing::training;

TEST(Seeding, Splitmix64MatchesTheReferenceSequence) {
  // The reference generator's first output from state 0 (Vigna, splitmix64.c).
  EXPECT_EQ(splitmix64(0), 0xe220a8397b1dcdafULL);
}

TEST(Seeding, SameInputsGiveTheSameGenerator) {
  auto a = sample_generator(7, training(42, 3), 1234);
  auto b = sample_generator(7, training(42, 3), 1234);
  for (int i = 0; i < 100; ++i) ASSERT_EQ(a(), b());
}

TEST(Seeding, EachInputChangesTheStream) {
  const auto first = [](std::uint64_t salt, std::uint64_t seed, std::uint64_t epoch, std::uint64_t index) {
    auto generator = sample_generator(salt, training(seed, epoch), index);
    return generator();
  };
  const std::set<std::uint64_t> values{first(7, 42, 3, 1234), first(8, 42, 3, 1234), first(7, 43, 3, 1234),
                                       first(7, 42, 4, 1234), first(7, 42, 3, 1235),
                                       // swapping epoch and index must not collide either
                                       first(7, 42, 1234, 3)};
  EXPECT_EQ(values.size(), 6u);
}

TEST(Seeding, SaltDependsOnStageNameAndEveryParameter) {
  const Schema schema{ParamSpec::real("p", "a probability").with_default(0.5)};
  const std::uint64_t base = stage_salt("random_flip", params(schema));
  EXPECT_EQ(base, stage_salt("random_flip", params(schema)));
  EXPECT_NE(base, stage_salt("random_other", params(schema)));
  EXPECT_NE(base, stage_salt("random_flip", params(schema, {{"p", 0.25}})));
}

TEST(Seeding, DrawsStayInTheirRanges) {
  auto generator = sample_generator(1, training(), 0);
  double low = 1.0, high = 0.0;
  int int_low = 100, int_high = -100;
  for (int i = 0; i < 10000; ++i) {
    const double u = unit(generator);
    low = std::min(low, u);
    high = std::max(high, u);
    const double v = uniform(generator, -3.0, 5.0);
    ASSERT_GE(v, -3.0);
    ASSERT_LT(v, 5.0);
    const int k = uniform_int(generator, 2, 6);
    int_low = std::min(int_low, k);
    int_high = std::max(int_high, k);
  }
  EXPECT_GE(low, 0.0);
  EXPECT_LT(high, 1.0);
  EXPECT_LT(low, 0.001);
  EXPECT_GT(high, 0.999);
  EXPECT_EQ(int_low, 2); // both ends of the inclusive range are reached
  EXPECT_EQ(int_high, 6);
  EXPECT_EQ(uniform(generator, 1.5, 1.5), 1.5);
}

TEST(Seeding, ChanceZeroNeverAndOneAlways) {
  auto generator = sample_generator(1, training(), 0);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(chance(generator, 0.0));
    ASSERT_TRUE(chance(generator, 1.0));
  }
}

} // namespace
} // namespace radpipe::augment
