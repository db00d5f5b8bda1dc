#include "intensity.hpp"

#include <gtest/gtest.h>

#include <radpipe/error.hpp>

#include "test_support.hpp"

namespace radpipe::augment {
namespace {

using testing::apply;
using testing::fracatlas_image;
using testing::identical;
using testing::params;
using testing::training;

Params busy() {
  return params(RandomIntensity::schema(), {{"brightness", 0.1},
                                            {"contrast", 0.2},
                                            {"gamma", std::vector<double>{0.7, 1.5}},
                                            {"noise_std", 0.02},
                                            {"autocontrast_probability", 0.3}});
}

// The first index at or after `from` whose draw satisfies `wanted`.
template <class Predicate>
std::uint64_t index_where(const RandomIntensity& stage, Predicate wanted, std::uint64_t from = 0) {
  for (std::uint64_t index = from;; ++index)
    if (wanted(stage.draw(index, training()))) return index;
}

TEST(RandomIntensity, DefaultsLeaveThePixelsAlone) {
  const cv::Mat image = fracatlas_image();
  const RandomIntensity stage(params(RandomIntensity::schema()), StageContext{});
  for (std::uint64_t index = 0; index < 10; ++index) EXPECT_EQ(apply(stage, image, index).data, image.data);
}

TEST(RandomIntensity, SameSeedEpochAndIndexAreBitIdenticalNoiseIncluded) {
  const cv::Mat image = fracatlas_image();
  const RandomIntensity a(busy(), StageContext{});
  const RandomIntensity b(busy(), StageContext{});
  const cv::Mat first = apply(a, image, 4, training(3, 1));
  EXPECT_EQ(cv::norm(first, apply(b, image, 4, training(3, 1))), 0.0);
  EXPECT_GT(cv::norm(first, apply(a, image, 5, training(3, 1))), 0.0);
  EXPECT_GT(cv::norm(first, apply(a, image, 4, training(3, 2))), 0.0);
}

TEST(RandomIntensity, DrawsStayWithinTheirBounds) {
  const RandomIntensity stage(busy(), StageContext{});
  int autocontrast = 0;
  for (std::uint64_t index = 0; index < 1000; ++index) {
    const IntensityDraw drawn = stage.draw(index, training());
    ASSERT_GE(drawn.gamma, 0.7);
    ASSERT_LE(drawn.gamma, 1.5);
    ASSERT_GE(drawn.contrast, 0.8);
    ASSERT_LE(drawn.contrast, 1.2);
    ASSERT_LE(std::abs(drawn.brightness), 0.1);
    autocontrast += drawn.autocontrast;
  }
  EXPECT_NEAR(autocontrast / 1000.0, 0.3, 0.05);
}

TEST(RandomIntensity, BrightnessAddsTheDrawnFractionOfTheRange) {
  const RandomIntensity stage(params(RandomIntensity::schema(), {{"brightness", 0.2}}), StageContext{});
  const cv::Mat flat(4, 4, CV_8UC1, cv::Scalar(100));
  for (std::uint64_t index = 0; index < 10; ++index) {
    const double shift = stage.draw(index, training()).brightness;
    const cv::Mat out = apply(stage, flat, index);
    EXPECT_NEAR(out.at<unsigned char>(0, 0), 100 + shift * 255, 0.5 + 1e-4) << "shift " << shift;
  }
}

TEST(RandomIntensity, EightBitSaturatesAndFloatIsNotClipped) {
  const RandomIntensity stage(params(RandomIntensity::schema(), {{"brightness", 1.0}}), StageContext{});
  const std::uint64_t index = index_where(stage, [](const IntensityDraw& d) { return d.brightness > 0.2; });
  const double shift = stage.draw(index, training()).brightness;
  EXPECT_EQ(apply(stage, cv::Mat(2, 2, CV_8UC1, cv::Scalar(250)), index).at<unsigned char>(0, 0), 255);
  EXPECT_NEAR(apply(stage, cv::Mat(2, 2, CV_32FC1, cv::Scalar(0.9)), index).at<float>(1, 1), 0.9 + shift, 1e-6);
}

TEST(RandomIntensity, ContrastScalesAboutTheMean) {
  // Mean 100: 50 and 150 move to 100 -/+ 50 * factor.
  const RandomIntensity stage(params(RandomIntensity::schema(), {{"contrast", 0.5}}), StageContext{});
  const cv::Mat image = (cv::Mat_<unsigned char>(1, 2) << 50, 150);
  for (std::uint64_t index = 0; index < 10; ++index) {
    const double factor = stage.draw(index, training()).contrast;
    const cv::Mat out = apply(stage, image, index);
    EXPECT_NEAR(out.at<unsigned char>(0, 0), 100 - 50 * factor, 0.5 + 1e-4);
    EXPECT_NEAR(out.at<unsigned char>(0, 1), 100 + 50 * factor, 0.5 + 1e-4);
  }
}

TEST(RandomIntensity, GammaOnSixteenBit) {
  // gamma 2: (x / 65535)^2 * 65535; 32768 -> 16384.25.
  const RandomIntensity stage(params(RandomIntensity::schema(), {{"gamma", std::vector<double>{2.0, 2.0}}}),
                              StageContext{});
  const cv::Mat out = apply(stage, (cv::Mat_<std::uint16_t>(1, 3) << 0, 32768, 65535), 0);
  ASSERT_EQ(out.type(), CV_16UC1);
  EXPECT_EQ(out.at<std::uint16_t>(0, 0), 0);
  EXPECT_NEAR(out.at<std::uint16_t>(0, 1), 16384, 1);
  EXPECT_EQ(out.at<std::uint16_t>(0, 2), 65535);
}

TEST(RandomIntensity, AutocontrastStretchesToTheFullRange) {
  const RandomIntensity stage(params(RandomIntensity::schema(), {{"autocontrast_probability", 1.0}}),
                              StageContext{});
  const cv::Mat out = apply(stage, (cv::Mat_<unsigned char>(1, 3) << 50, 100, 150), 0);
  EXPECT_EQ(out.at<unsigned char>(0, 0), 0);
  EXPECT_NEAR(out.at<unsigned char>(0, 1), 127.5, 0.5 + 1e-4);
  EXPECT_EQ(out.at<unsigned char>(0, 2), 255);
}

TEST(RandomIntensity, NoiseHasTheRequestedSpread) {
  const RandomIntensity stage(params(RandomIntensity::schema(), {{"noise_std", 0.05}}), StageContext{});
  const cv::Mat out = apply(stage, cv::Mat(256, 256, CV_8UC1, cv::Scalar(128)), 0);
  cv::Scalar mean, deviation;
  cv::meanStdDev(out, mean, deviation);
  EXPECT_NEAR(mean[0], 128.0, 0.5);
  EXPECT_NEAR(deviation[0], 0.05 * 255, 0.5);
}

TEST(RandomIntensity, SixteenBitIsKept) {
  cv::Mat deep;
  fracatlas_image().convertTo(deep, CV_16U, 257.0);
  const RandomIntensity stage(busy(), StageContext{});
  const cv::Mat out = apply(stage, deep, 2);
  ASSERT_EQ(out.type(), CV_16UC1);
  double high = 0.0;
  cv::minMaxLoc(out, nullptr, &high);
  EXPECT_GT(high, 255.0);
  EXPECT_GT(cv::norm(out, deep), 0.0);
}

TEST(RandomIntensity, GammaMinAboveMaxIsAStageError) {
  try {
    RandomIntensity stage(params(RandomIntensity::schema(), {{"gamma", std::vector<double>{2.0, 1.0}}}),
                          StageContext{});
    FAIL() << "gamma [2, 1] should be refused";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "gamma");
  }
}

} // namespace
} // namespace radpipe::augment
