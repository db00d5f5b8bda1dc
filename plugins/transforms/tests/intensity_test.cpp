#include "intensity.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <opencv2/core.hpp>
#include <radpipe/error.hpp>

#include "test_support.hpp"

namespace radpipe::transforms {
namespace {

using testing::expect_same;
using testing::run;

TEST(MinMax, EightBitRescalesFromItsOwnRange) {
  // (x - 10) / 50
  expect_same(run<MinMax>((cv::Mat_<unsigned char>(2, 2) << 10, 20, 30, 60)),
              (cv::Mat_<float>(2, 2) << 0.0f, 0.2f, 0.4f, 1.0f), 1e-7);
}

TEST(MinMax, ColourUsesOneRangeForAllChannels) {
  // Range 1000..5000 over every channel: (x - 1000) / 4000.
  cv::Mat colour(1, 2, CV_16UC3);
  colour.at<cv::Vec<std::uint16_t, 3>>(0, 0) = {1000, 2000, 3000};
  colour.at<cv::Vec<std::uint16_t, 3>>(0, 1) = {5000, 1000, 4000};
  const cv::Mat out = run<MinMax>(colour);
  ASSERT_EQ(out.type(), CV_32FC3);
  EXPECT_EQ(out.at<cv::Vec3f>(0, 0), cv::Vec3f(0.0f, 0.25f, 0.5f));
  EXPECT_EQ(out.at<cv::Vec3f>(0, 1), cv::Vec3f(1.0f, 0.0f, 0.75f));
}

TEST(MinMax, ConstantImageBecomesZeros) {
  expect_same(run<MinMax>(cv::Mat(3, 2, CV_16UC1, cv::Scalar(777))), cv::Mat::zeros(3, 2, CV_32FC1));
  expect_same(run<MinMax>(cv::Mat(2, 2, CV_8UC3, cv::Scalar::all(5))), cv::Mat::zeros(2, 2, CV_32FC3));
}

TEST(MinMax, NanPixelsAreASampleError) {
  cv::Mat real(2, 2, CV_32FC1, cv::Scalar(0.5));
  real.at<float>(1, 1) = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(run<MinMax>(real), SampleError);
}

TEST(PercentileClip, NearestRankBoundsOnEightBit) {
  // Values 0, 10, ..., 90 (N = 10). low 10: rank ceil(1) = 1 -> 0; high 90: rank 9 -> 80.
  // Clip to [0, 80], then x / 80; 90 is clipped to 1.
  const cv::Mat ramp = (cv::Mat_<unsigned char>(1, 10) << 0, 10, 20, 30, 40, 50, 60, 70, 80, 90);
  expect_same(run<PercentileClip>(ramp, {{"low", 10.0}, {"high", 90.0}}),
              (cv::Mat_<float>(1, 10) << 0.0f, 0.125f, 0.25f, 0.375f, 0.5f, 0.625f, 0.75f, 0.875f, 1.0f, 1.0f));
}

TEST(PercentileClip, DefaultsCutOneBrightOutlierOfTwoHundred) {
  // 16-bit values 0..198 and one 60000 (N = 200). low 0.5: rank 1 -> 0; high 99.5: rank 199 -> 198.
  cv::Mat values(1, 200, CV_16UC1);
  for (int i = 0; i < 199; ++i) values.at<std::uint16_t>(0, i) = static_cast<std::uint16_t>(i);
  values.at<std::uint16_t>(0, 199) = 60000;
  const cv::Mat out = run<PercentileClip>(values);
  ASSERT_EQ(out.type(), CV_32FC1);
  EXPECT_FLOAT_EQ(out.at<float>(0, 0), 0.0f);
  EXPECT_FLOAT_EQ(out.at<float>(0, 99), 99.0f / 198.0f);
  EXPECT_FLOAT_EQ(out.at<float>(0, 198), 1.0f);
  EXPECT_FLOAT_EQ(out.at<float>(0, 199), 1.0f); // the outlier, clipped
}

TEST(PercentileClip, FloatImagesRankWithoutBins) {
  // Sorted: -1, 0.25, 0.5, 0.75, 2. low 40: rank 2 -> 0.25; high 80: rank 4 -> 0.75.
  const cv::Mat real = (cv::Mat_<float>(1, 5) << 0.5f, -1.0f, 2.0f, 0.25f, 0.75f);
  expect_same(run<PercentileClip>(real, {{"low", 40.0}, {"high", 80.0}}),
              (cv::Mat_<float>(1, 5) << 0.5f, 0.0f, 1.0f, 0.0f, 1.0f));
}

TEST(PercentileClip, ConstantImageBecomesZeros) {
  expect_same(run<PercentileClip>(cv::Mat(4, 4, CV_8UC1, cv::Scalar(9))), cv::Mat::zeros(4, 4, CV_32FC1));
}

TEST(PercentileClip, HighMustExceedLow) {
  try {
    PercentileClip stage(resolve_params(PercentileClip::schema(), {{"low", 60.0}, {"high", 40.0}}),
                         StageContext{});
    FAIL() << "high below low should be refused";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "high");
  }
  EXPECT_THROW(resolve_params(PercentileClip::schema(), {{"high", 100.5}}), StageError);
}

TEST(Autocontrast, StretchesEightBitToTheFullRange) {
  // 50..135 onto 0..255: (x - 50) * 3.
  expect_same(run<Autocontrast>((cv::Mat_<unsigned char>(1, 3) << 50, 100, 135)),
              (cv::Mat_<unsigned char>(1, 3) << 0, 150, 255));
}

TEST(Autocontrast, CutoffSaturatesTheDarkestAndBrightest) {
  // N = 10, cutoff 20: ranks 2 (20) and 9 (105); (x - 20) * 3, saturated.
  const cv::Mat image = (cv::Mat_<unsigned char>(1, 10) << 0, 20, 30, 40, 50, 60, 70, 80, 105, 200);
  expect_same(run<Autocontrast>(image, {{"cutoff", 20.0}}),
              (cv::Mat_<unsigned char>(1, 10) << 0, 0, 30, 60, 90, 120, 150, 180, 255, 255));
}

TEST(Autocontrast, SixteenBitStretchesTo65535) {
  // 1000..1257 onto 0..65535: (x - 1000) * 255.
  expect_same(run<Autocontrast>((cv::Mat_<std::uint16_t>(1, 3) << 1000, 1100, 1257)),
              (cv::Mat_<std::uint16_t>(1, 3) << 0, 25500, 65535));
}

TEST(Autocontrast, FloatStretchesToUnitRangeAndClips) {
  // N = 5, cutoff 40: ranks 2 (0.25) and 4 (0.75); (x - 0.25) * 2, clipped to [0, 1].
  const cv::Mat real = (cv::Mat_<float>(1, 5) << 0.0f, 0.25f, 0.5f, 0.75f, 1.0f);
  expect_same(run<Autocontrast>(real, {{"cutoff", 40.0}}), (cv::Mat_<float>(1, 5) << 0, 0, 0.5f, 1, 1));
}

TEST(Autocontrast, ConstantImageIsKept) {
  const cv::Mat flat(3, 3, CV_8UC1, cv::Scalar(42));
  expect_same(run<Autocontrast>(flat), flat);
}

TEST(Invert, SubtractsFromTheDepthMaximum) {
  expect_same(run<Invert>((cv::Mat_<unsigned char>(1, 3) << 0, 55, 255)),
              (cv::Mat_<unsigned char>(1, 3) << 255, 200, 0));
  expect_same(run<Invert>((cv::Mat_<std::uint16_t>(1, 3) << 0, 1000, 65535)),
              (cv::Mat_<std::uint16_t>(1, 3) << 65535, 64535, 0));
  expect_same(run<Invert>((cv::Mat_<float>(1, 3) << 0.25f, 1.0f, -0.5f)),
              (cv::Mat_<float>(1, 3) << 0.75f, 0.0f, 1.5f));
}

TEST(Invert, ColourInvertsEveryChannel) {
  const cv::Mat out = run<Invert>(cv::Mat(2, 2, CV_8UC3, cv::Scalar(10, 20, 30)));
  ASSERT_EQ(out.type(), CV_8UC3);
  EXPECT_EQ(out.at<cv::Vec3b>(1, 1), cv::Vec3b(245, 235, 225));
}

} // namespace
} // namespace radpipe::transforms
