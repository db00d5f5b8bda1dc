#include "equalize.hpp"

#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/error.hpp>

#include "test_support.hpp"

namespace radpipe::transforms {
namespace {

using testing::expect_same;
using testing::run;

// 4x4: fifteen 0 and one 255.
cv::Mat one_bright_pixel(int type = CV_8UC1) {
  cv::Mat image(4, 4, type, cv::Scalar::all(0));
  image.at<unsigned char>(3, 3) = 255;
  return image;
}

std::map<std::string, ParamValue> single_tile(double clip_limit) {
  return {{"clip_limit", clip_limit}, {"tiles", std::vector<std::int64_t>{1, 1}}};
}

TEST(Clahe, OneTileWithoutClippingIsOpenCVsEqualisation) {
  // One tile of 16 pixels, table = cumulative count * 255 / 16: 0 -> 15 * 15.9375 = 239.06 -> 239.
  cv::Mat expected(4, 4, CV_8UC1, cv::Scalar(239));
  expected.at<unsigned char>(3, 3) = 255;
  expect_same(run<Clahe>(one_bright_pixel(), single_tile(0.0)), expected);
}

TEST(Clahe, ClipLimitSpreadsTheDominantBin) {
  // Limit int(32 * 16 / 256) = 2: bin 0 keeps 2 of its 15, and the 13 clipped pixels go one each
  // to bins 0, 19, 38, ..., 228 (step 256 / 13 = 19). Bin 0 then holds 3: 3 * 15.9375 = 47.8 -> 48.
  cv::Mat expected(4, 4, CV_8UC1, cv::Scalar(48));
  expected.at<unsigned char>(3, 3) = 255;
  expect_same(run<Clahe>(one_bright_pixel(), single_tile(32.0)), expected);
}

TEST(Clahe, SixteenBitUsesA65536BinTable) {
  // Table = cumulative count * 65535 / 4: 2 -> 32767.5 -> 32768 (round half to even), 3 -> 49151.25.
  const cv::Mat deep = (cv::Mat_<std::uint16_t>(2, 2) << 0, 0, 1000, 60000);
  expect_same(run<Clahe>(deep, single_tile(0.0)), (cv::Mat_<std::uint16_t>(2, 2) << 32768, 32768, 49151, 65535));
}

TEST(Clahe, ColourIsEqualisedOnLuminance) {
  // A gray-valued RGB image has Y = the value and neutral chroma, so each channel matches the gray result.
  cv::Mat colour;
  cv::cvtColor(one_bright_pixel(), colour, cv::COLOR_GRAY2RGB);
  const cv::Mat out = run<Clahe>(colour, single_tile(0.0));
  ASSERT_EQ(out.type(), CV_8UC3);
  EXPECT_EQ(out.at<cv::Vec3b>(0, 0), cv::Vec3b(239, 239, 239));
  EXPECT_EQ(out.at<cv::Vec3b>(3, 3), cv::Vec3b(255, 255, 255));
}

TEST(Clahe, DefaultsKeepSizeAndDepth) {
  cv::Mat ramp(64, 48, CV_16UC1);
  cv::Mat row(1, 48, CV_16UC1);
  for (int c = 0; c < 48; ++c) row.at<std::uint16_t>(0, c) = static_cast<std::uint16_t>(c * 1000);
  cv::repeat(row, 64, 1, ramp);
  const cv::Mat out = run<Clahe>(ramp);
  EXPECT_EQ(out.type(), CV_16UC1);
  EXPECT_EQ(out.size(), ramp.size());
  const Params defaults = resolve_params(Clahe::schema(), {});
  EXPECT_EQ(defaults.real("clip_limit"), 2.0);
  EXPECT_EQ(defaults.integers("tiles"), (std::vector<std::int64_t>{8, 8}));
}

TEST(Clahe, FloatIsASampleError) {
  EXPECT_THROW(run<Clahe>(cv::Mat(4, 4, CV_32FC1, cv::Scalar(0.5))), SampleError);
}

TEST(EqualizeHistogram, EightBitFollowsOpenCVsFormula) {
  // Darkest value 10 (2 pixels) -> 0; scale 255 / (4 - 2) = 127.5: 50 -> 127.5 -> 128, 200 -> 255.
  expect_same(run<EqualizeHistogram>((cv::Mat_<unsigned char>(1, 4) << 10, 10, 50, 200)),
              (cv::Mat_<unsigned char>(1, 4) << 0, 0, 128, 255));
}

TEST(EqualizeHistogram, SixteenBitUsesTheSameFormula) {
  // Scale 65535 / 2 = 32767.5: 5000 -> 32767.5 -> 32768 (round half to even), 60000 -> 65535.
  expect_same(run<EqualizeHistogram>((cv::Mat_<std::uint16_t>(2, 2) << 1000, 1000, 5000, 60000)),
              (cv::Mat_<std::uint16_t>(2, 2) << 0, 0, 32768, 65535));
}

TEST(EqualizeHistogram, SixteenBitMatchesEightBitOnScaledValues) {
  // Values v * 257 on 16-bit equalise to the 8-bit result * 257 (both tables are linear in the
  // cumulative count), up to rounding.
  cv::Mat eight(16, 16, CV_8UC1);
  cv::RNG random(7); // a generator of its own, not OpenCV's shared one
  random.fill(eight, cv::RNG::UNIFORM, 0, 256);
  cv::Mat sixteen;
  eight.convertTo(sixteen, CV_16U, 257.0);
  cv::Mat expected;
  run<EqualizeHistogram>(eight).convertTo(expected, CV_16U, 257.0);
  EXPECT_LE(cv::norm(run<EqualizeHistogram>(sixteen), expected, cv::NORM_INF), 257.0);
}

TEST(EqualizeHistogram, ConstantImageIsKept) {
  const cv::Mat flat(2, 3, CV_16UC1, cv::Scalar(1234));
  expect_same(run<EqualizeHistogram>(flat), flat);
}

TEST(EqualizeHistogram, ColourIsEqualisedOnLuminance) {
  cv::Mat colour;
  const cv::Mat gray = (cv::Mat_<unsigned char>(1, 4) << 10, 10, 50, 200);
  cv::cvtColor(gray, colour, cv::COLOR_GRAY2RGB);
  const cv::Mat out = run<EqualizeHistogram>(colour);
  ASSERT_EQ(out.type(), CV_8UC3);
  EXPECT_EQ(out.at<cv::Vec3b>(0, 1), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(out.at<cv::Vec3b>(0, 2), cv::Vec3b(128, 128, 128));
  EXPECT_EQ(out.at<cv::Vec3b>(0, 3), cv::Vec3b(255, 255, 255));
}

TEST(EqualizeHistogram, FloatIsASampleError) {
  EXPECT_THROW(run<EqualizeHistogram>(cv::Mat(4, 4, CV_32FC1, cv::Scalar(0.5))), SampleError);
}

} // namespace
} // namespace radpipe::transforms
