#include "normalize.hpp"

#include <gtest/gtest.h>

#include <radpipe/error.hpp>

#include <limits>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace radpipe::transforms {
namespace {

using testing::run;

constexpr double tolerance = 1e-5;

void expect_stage_error(const std::map<std::string, ParamValue>& values, const std::string& key,
                        const std::string& fragment) {
  try {
    Normalize stage(resolve_params(Normalize::schema(), values), StageContext{});
    FAIL() << "expected a StageError on " << key;
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), key) << error.what();
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

TEST(Normalize, GrayImagenetUsesTheChannelAverages) {
  // (x / 255 - 0.449) / 0.226 by hand.
  const cv::Mat gray = (cv::Mat_<unsigned char>(2, 2) << 0, 255, 51, 102);
  const cv::Mat out = run<Normalize>(gray);
  ASSERT_EQ(out.type(), CV_32FC1);
  EXPECT_NEAR(out.at<float>(0, 0), -1.9867257, tolerance); // (0 - 0.449) / 0.226
  EXPECT_NEAR(out.at<float>(0, 1), 2.4380531, tolerance);  // (1 - 0.449) / 0.226
  EXPECT_NEAR(out.at<float>(1, 0), -1.1017699, tolerance); // (0.2 - 0.449) / 0.226
  EXPECT_NEAR(out.at<float>(1, 1), -0.2168142, tolerance); // (0.4 - 0.449) / 0.226
}

TEST(Normalize, RgbImagenetIsPerChannel) {
  cv::Mat colour(2, 2, CV_8UC3, cv::Scalar(255, 0, 51)); // R, G, B
  colour.at<cv::Vec3b>(1, 1) = cv::Vec3b(0, 255, 102);
  const cv::Mat out = run<Normalize>(colour);
  ASSERT_EQ(out.type(), CV_32FC3);
  const auto first = out.at<cv::Vec3f>(0, 0);
  EXPECT_NEAR(first[0], 2.2489083, tolerance);  // (1 - 0.485) / 0.229
  EXPECT_NEAR(first[1], -2.0357143, tolerance); // (0 - 0.456) / 0.224
  EXPECT_NEAR(first[2], -0.9155556, tolerance); // (0.2 - 0.406) / 0.225
  const auto last = out.at<cv::Vec3f>(1, 1);
  EXPECT_NEAR(last[0], -2.1179039, tolerance); // (0 - 0.485) / 0.229
  EXPECT_NEAR(last[1], 2.4285714, tolerance);  // (1 - 0.456) / 0.224
  EXPECT_NEAR(last[2], -0.0266667, tolerance); // (0.4 - 0.406) / 0.225
}

TEST(Normalize, NoneOnlyScalesEachDepth) {
  const cv::Mat deep = (cv::Mat_<std::uint16_t>(1, 3) << 0, 32768, 65535);
  const cv::Mat scaled = run<Normalize>(deep, {{"preset", std::string("none")}});
  ASSERT_EQ(scaled.type(), CV_32FC1);
  EXPECT_FLOAT_EQ(scaled.at<float>(0, 0), 0.0f);
  EXPECT_NEAR(scaled.at<float>(0, 1), 32768.0 / 65535.0, 1e-7);
  EXPECT_FLOAT_EQ(scaled.at<float>(0, 2), 1.0f);

  const cv::Mat real(1, 1, CV_32FC1, cv::Scalar(0.3));
  EXPECT_FLOAT_EQ(run<Normalize>(real, {{"preset", std::string("none")}}).at<float>(0, 0),
                  0.3f); // float unchanged
}

TEST(Normalize, CustomSingleValuesApplyToEveryChannel) {
  const cv::Mat colour(1, 1, CV_8UC3, cv::Scalar(255, 51, 0));
  const cv::Mat out = run<Normalize>(colour, {{"preset", std::string("custom")},
                                              {"mean", std::vector<double>{0.5}},
                                              {"std", std::vector<double>{0.25}}});
  const auto pixel = out.at<cv::Vec3f>(0, 0);
  EXPECT_NEAR(pixel[0], 2.0, tolerance);  // (1 - 0.5) / 0.25
  EXPECT_NEAR(pixel[1], -1.2, tolerance); // (0.2 - 0.5) / 0.25
  EXPECT_NEAR(pixel[2], -2.0, tolerance); // (0 - 0.5) / 0.25
}

TEST(Normalize, CustomThreeValuesOnGrayAverage) {
  const cv::Mat gray(1, 1, CV_16UC1, cv::Scalar(65535));
  const cv::Mat out = run<Normalize>(gray, {{"preset", std::string("custom")},
                                            {"mean", std::vector<double>{0.1, 0.2, 0.3}},
                                            {"std", std::vector<double>{0.5, 0.5, 0.2}}});
  EXPECT_NEAR(out.at<float>(0, 0), 2.0, tolerance); // (1 - 0.2) / 0.4
}

TEST(Normalize, CustomNeedsMeanAndStd) {
  expect_stage_error({{"preset", std::string("custom")}, {"std", std::vector<double>{0.2}}}, "mean",
                     "preset = \"custom\" needs mean");
  expect_stage_error({{"preset", std::string("custom")}, {"mean", std::vector<double>{0.2}}}, "std",
                     "preset = \"custom\" needs std");
}

// Zero, denormal and NaN std values are refused by the schema itself, so that `radpipe check`
// reports them (it once passed std = 0, which predict then refused, and std = 1e-45, which turned
// every pixel into infinity and training into NaN).
TEST(Normalize, ZeroDenormalAndNanStdAreRefusedByTheSchema) {
  for (const double bad : {0.0, 1e-45, 1e-39, -0.1, std::numeric_limits<double>::quiet_NaN()}) {
    SCOPED_TRACE(bad);
    expect_stage_error({{"preset", std::string("custom")},
                        {"mean", std::vector<double>{0.2}},
                        {"std", std::vector<double>{0.2, bad, 0.2}}},
                       "std", "out of range");
  }
}

TEST(Normalize, ATinyStdIsWarnedAbout) {
  std::vector<std::string> warnings;
  StageContext context;
  context.log = [&](LogLevel level, const std::string& message) {
    if (level == LogLevel::Warning) warnings.push_back(message);
  };
  const auto make = [&](double deviation) {
    return Normalize(resolve_params(Normalize::schema(), {{"preset", std::string("custom")},
                                                          {"mean", std::vector<double>{0.5}},
                                                          {"std", std::vector<double>{deviation}}}),
                     context);
  };
  make(0.25);
  EXPECT_TRUE(warnings.empty()) << warnings.front();
  make(1e-30);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("every probability will likely be 0 or 1"), std::string::npos) << warnings[0];
}

TEST(Normalize, TwoValuesAreNeitherOneNorThree) {
  expect_stage_error({{"preset", std::string("custom")},
                      {"mean", std::vector<double>{0.2, 0.3}},
                      {"std", std::vector<double>{0.2}}},
                     "mean", "has 2 values");
}

TEST(Normalize, MeanWithoutCustomPresetIsAnError) {
  expect_stage_error({{"mean", std::vector<double>{0.2}}}, "mean",
                     "only with preset = \"custom\", but preset is \"imagenet\"");
}

} // namespace
} // namespace radpipe::transforms
