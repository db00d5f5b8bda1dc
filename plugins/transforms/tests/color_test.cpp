#include "color.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <radpipe/error.hpp>

#include "test_support.hpp"

namespace radpipe::transforms {
namespace {

using testing::run;

TEST(Grayscale, PureRedGetsTheLumaWeightOfRed) {
  // Input is RGB: red first. Luma 0.299 * 255 = 76.245, rounded to 76 (blue would give 29).
  const cv::Mat red(2, 3, CV_8UC3, cv::Scalar(255, 0, 0));
  const cv::Mat gray = run<Grayscale>(red);
  ASSERT_EQ(gray.type(), CV_8UC1);
  EXPECT_EQ(gray.size(), cv::Size(3, 2));
  EXPECT_EQ(gray.at<unsigned char>(1, 2), static_cast<unsigned char>(std::lround(0.299 * 255)));
  EXPECT_EQ(run<Grayscale>(cv::Mat(1, 1, CV_8UC3, cv::Scalar(0, 0, 255))).at<unsigned char>(0, 0),
            29); // pure blue
}

TEST(Grayscale, KeepsSixteenBitAndFloatDepth) {
  const cv::Mat deep = run<Grayscale>(cv::Mat(2, 2, CV_16UC3, cv::Scalar(0, 60000, 0)));
  ASSERT_EQ(deep.type(), CV_16UC1);
  EXPECT_EQ(deep.at<std::uint16_t>(0, 0), std::lround(0.587 * 60000));
  const cv::Mat real = run<Grayscale>(cv::Mat(2, 2, CV_32FC3, cv::Scalar(1.0, 1.0, 1.0)));
  ASSERT_EQ(real.type(), CV_32FC1);
  EXPECT_NEAR(real.at<float>(1, 1), 1.0f, 1e-6);
}

TEST(Grayscale, GrayPassesThroughUnchanged) {
  const cv::Mat gray(4, 4, CV_8UC1, cv::Scalar(123));
  const cv::Mat result = run<Grayscale>(gray);
  EXPECT_EQ(result.data, gray.data); // the same pixels, not a copy
}

TEST(Grayscale, FourChannelsIsASampleError) {
  EXPECT_THROW(run<Grayscale>(cv::Mat(2, 2, CV_8UC4, cv::Scalar::all(1))), SampleError);
}

TEST(Rgb, GrayIsReplicatedIntoThreeChannels) {
  cv::Mat gray(2, 2, CV_16UC1, cv::Scalar(5));
  gray.at<std::uint16_t>(1, 0) = 40000;
  const cv::Mat rgb = run<Rgb>(gray);
  ASSERT_EQ(rgb.type(), CV_16UC3);
  using Pixel = cv::Vec<std::uint16_t, 3>;
  EXPECT_EQ(rgb.at<Pixel>(1, 0), Pixel(40000, 40000, 40000));
  EXPECT_EQ(rgb.at<Pixel>(0, 0), Pixel(5, 5, 5));
}

TEST(Rgb, RgbPassesThroughUnchanged) {
  const cv::Mat colour(3, 3, CV_8UC3, cv::Scalar(1, 2, 3));
  const cv::Mat result = run<Rgb>(colour);
  EXPECT_EQ(result.data, colour.data);
  EXPECT_EQ(result.at<cv::Vec3b>(2, 2), cv::Vec3b(1, 2, 3));
}

TEST(Rgb, EmptyImageIsASampleErrorNamingTheSample) {
  try {
    run<Rgb>(cv::Mat());
    FAIL() << "an empty image should be rejected";
  } catch (const SampleError& error) {
    EXPECT_EQ(error.path(), "/in/memory.png");
    EXPECT_NE(std::string(error.what()).find("rgb: sample test has no pixels"), std::string::npos)
        << error.what();
  }
}

} // namespace
TEST(Grayscale, DeclaresThatOneChannelIsEnough) {
  const Grayscale grayscale(resolve_params(Grayscale::schema(), {}), StageContext{});
  DecodeHint hint;
  EXPECT_TRUE(grayscale.refine_decode_hint(hint));
  EXPECT_EQ(hint.channels, DecodeHint::Channels::Gray);
  EXPECT_FALSE(hint.reducible());
  // rgb needs what it gets: it does not declare, so the walk stops there.
  const Rgb rgb(resolve_params(Rgb::schema(), {}), StageContext{});
  EXPECT_FALSE(rgb.refine_decode_hint(hint));
}

} // namespace radpipe::transforms
