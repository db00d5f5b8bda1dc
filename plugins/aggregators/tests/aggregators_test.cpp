#include "aggregators.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <radpipe/error.hpp>
#include <string>
#include <vector>

namespace radpipe::aggregators {
namespace {

template <class AggregatorT>
AggregatorT make(std::map<std::string, ParamValue> values = {}) {
  return AggregatorT(resolve_params(AggregatorT::schema(), std::move(values)), StageContext{});
}

const std::vector<double> study{0.2, 0.9, 0.5, 0.4};

TEST(Mean, AveragesAll) {
  EXPECT_DOUBLE_EQ(make<Mean>().aggregate(study), 0.5); // 2.0 / 4
  EXPECT_DOUBLE_EQ(make<Mean>().aggregate(std::vector{0.3}), 0.3);
}

TEST(Max, TakesTheHighest) {
  EXPECT_DOUBLE_EQ(make<Max>().aggregate(study), 0.9);
  EXPECT_DOUBLE_EQ(make<Max>().aggregate(std::vector{0.0, 0.0}), 0.0);
}

TEST(TopKMean, DefaultAveragesTheTwoHighest) {
  EXPECT_DOUBLE_EQ(make<TopKMean>().aggregate(study), 0.7); // (0.9 + 0.5) / 2
}

TEST(TopKMean, KOfThreeAndKBeyondTheStudy) {
  EXPECT_DOUBLE_EQ(make<TopKMean>({{"k", std::int64_t{3}}}).aggregate(study), 0.6);  // (0.9 + 0.5 + 0.4) / 3
  EXPECT_DOUBLE_EQ(make<TopKMean>({{"k", std::int64_t{10}}}).aggregate(study), 0.5); // all four
  EXPECT_DOUBLE_EQ(make<TopKMean>({{"k", std::int64_t{1}}}).aggregate(study), 0.9);
}

TEST(TopKMean, KBelowOneIsRejected) {
  EXPECT_THROW(resolve_params(TopKMean::schema(), {{"k", std::int64_t{0}}}), StageError);
  Params params;
  params.set("k", std::int64_t{0}); // bypassing the schema, as a hand-built Params could
  try {
    TopKMean stage(params, StageContext{});
    FAIL() << "k = 0 should be rejected";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "k");
  }
}

TEST(Majority, ReturnsTheShareOfPositiveVotes) {
  EXPECT_DOUBLE_EQ(make<Majority>().aggregate(study), 0.5); // 0.9 and 0.5 (>= 0.5 counts)
  EXPECT_DOUBLE_EQ(make<Majority>({{"vote_threshold", 0.45}}).aggregate(study), 0.5); // 0.9, 0.5
  EXPECT_DOUBLE_EQ(make<Majority>({{"vote_threshold", 0.3}}).aggregate(study), 0.75); // 0.9, 0.5, 0.4
  EXPECT_DOUBLE_EQ(make<Majority>({{"vote_threshold", 0.95}}).aggregate(study), 0.0);
  EXPECT_DOUBLE_EQ(make<Majority>({{"vote_threshold", std::int64_t{0}}}).aggregate(study),
                   1.0); // integers widen to float
}

TEST(Majority, ThresholdOutsideUnitIntervalIsRejected) {
  EXPECT_THROW(resolve_params(Majority::schema(), {{"vote_threshold", 1.5}}), StageError);
}

TEST(AnyPositive, IsTheMaximum) {
  EXPECT_DOUBLE_EQ(make<AnyPositive>().aggregate(study), 0.9);
  EXPECT_DOUBLE_EQ(make<AnyPositive>().aggregate(std::vector{0.1, 0.3}), 0.3);
}

TEST(Aggregators, EmptyStudyIsAStageError) {
  const std::vector<double> none;
  EXPECT_THROW(make<Mean>().aggregate(none), StageError);
  EXPECT_THROW(make<Max>().aggregate(none), StageError);
  EXPECT_THROW(make<TopKMean>().aggregate(none), StageError);
  EXPECT_THROW(make<Majority>().aggregate(none), StageError);
  try {
    make<AnyPositive>().aggregate(none);
    FAIL() << "an empty study should be rejected";
  } catch (const StageError& error) {
    EXPECT_TRUE(error.key().empty());
    EXPECT_NE(std::string(error.what()).find("any_positive: a study with no image probabilities"),
              std::string::npos)
        << error.what();
  }
}

TEST(Aggregators, NonProbabilitiesAreStageErrors) {
  EXPECT_THROW(make<Mean>().aggregate(std::vector{0.5, 2.3}), StageError);
  EXPECT_THROW(make<Max>().aggregate(std::vector{-0.1}), StageError);
  EXPECT_THROW(make<Majority>().aggregate(std::vector{std::numeric_limits<double>::quiet_NaN()}), StageError);
}

} // namespace
} // namespace radpipe::aggregators
