#include "area_resize.hpp"

#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <vector>

namespace radpipe::transforms {
namespace {

struct Shrink {
  cv::Size from;
  cv::Size to;
};

// FracAtlas's radiographs to the sizes the recipes use, a DICOM-sized plate, thin and odd shapes,
// and factors just above one, where a cell's edge falls closest to a source pixel's.
const std::vector<Shrink> shrinks{
    {{373, 454}, {128, 128}}, {{373, 454}, {320, 320}}, {{454, 373}, {224, 224}}, {{2000, 2500}, {320, 320}},
    {{1000, 17}, {333, 5}},   {{513, 511}, {512, 510}}, {{97, 89}, {96, 13}},     {{640, 480}, {300, 480}},
};

// Random pixels, then a blur, so that the image holds both noise and the smooth ramps where
// neighbouring sums lie closest together.
cv::Mat test_image(cv::Size size, int type, cv::RNG& random) {
  cv::Mat image(size, type);
  if (CV_MAT_DEPTH(type) == CV_32F)
    random.fill(image, cv::RNG::UNIFORM, 0.0, 1.0);
  else
    random.fill(image, cv::RNG::UNIFORM, 0.0, CV_MAT_DEPTH(type) == CV_8U ? 256.0 : 65536.0);
  cv::Mat smooth;
  cv::GaussianBlur(image, smooth, {0, 0}, 3.0);
  smooth(cv::Rect(0, 0, size.width / 2, size.height))
      .copyTo(image(cv::Rect(0, 0, size.width / 2, size.height)));
  return image;
}

std::string describe(const Shrink& shrink, int type) {
  return std::to_string(shrink.from.width) + "x" + std::to_string(shrink.from.height) + " to " +
         std::to_string(shrink.to.width) + "x" + std::to_string(shrink.to.height) + ", type " +
         std::to_string(type);
}

// The tolerance: both sides sum the same float products in another order. Float rounding over a
// few hundred terms moves a sum by far less than 1e-3 of a step, so an 8- or 16-bit result can
// only change where the exact value lies that close to a rounding half: by one step, and rarely.
TEST(AreaResize, MatchesOpenCvsInterAreaWithinOneStepOnShrinksByAnyFactor) {
  cv::RNG random(20261202);
  for (const int type : {CV_8UC1, CV_8UC3, CV_16UC1, CV_32FC1, CV_32FC3}) {
    for (const Shrink& shrink : shrinks) {
      SCOPED_TRACE(describe(shrink, type));
      const cv::Mat image = test_image(shrink.from, type, random);
      ASSERT_TRUE(shrinks_by_area_itself(image, shrink.to));
      cv::Mat expected;
      cv::resize(image, expected, shrink.to, 0, 0, cv::INTER_AREA);
      const cv::Mat ours = resize_by_area(image, shrink.to);
      ASSERT_EQ(ours.type(), expected.type());
      ASSERT_EQ(ours.size(), expected.size());

      cv::Mat difference;
      cv::absdiff(ours, expected, difference);
      double largest = 0;
      cv::minMaxLoc(difference.reshape(1), nullptr, &largest);
      if (CV_MAT_DEPTH(type) == CV_32F) {
        EXPECT_LE(largest, 1e-5);
      } else {
        EXPECT_LE(largest, 1.0);
        const double differing =
            cv::countNonZero(difference.reshape(1)) / static_cast<double>(difference.total());
        EXPECT_LE(differing / expected.channels(), 0.005);
      }
    }
  }
}

TEST(AreaResize, ARegionOfALargerImageShrinksAsItsCopyDoes) {
  cv::RNG random(7);
  const cv::Mat plate = test_image({600, 700}, CV_8UC1, random);
  const cv::Mat region = plate(cv::Rect(31, 17, 373, 454));
  ASSERT_FALSE(region.isContinuous());
  const cv::Mat copy = region.clone();
  EXPECT_EQ(cv::norm(resize_by_area(region, {128, 128}), resize_by_area(copy, {128, 128}), cv::NORM_INF),
            0.0);
}

// Whole factors, enlargements, unchanged sizes and other depths are OpenCV's own: the result must
// be cv::resize's to the bit. With random pixels a wrongly routed case differs somewhere.
TEST(AreaResize, LeavesWholeFactorsEnlargementsAndOtherDepthsToOpenCv) {
  cv::RNG random(11);
  const std::vector<std::pair<Shrink, int>> theirs{
      {{{640, 480}, {320, 240}}, CV_8UC1},  {{{640, 480}, {160, 160}}, CV_8UC3},
      {{{300, 200}, {450, 300}}, CV_8UC1},  {{{300, 200}, {450, 100}}, CV_16UC1},
      {{{128, 128}, {128, 128}}, CV_8UC1},  {{{373, 454}, {128, 128}}, CV_64FC1},
      {{{373, 454}, {128, 128}}, CV_16SC1},
  };
  for (const auto& [shrink, type] : theirs) {
    SCOPED_TRACE(describe(shrink, type));
    cv::Mat image(shrink.from, type);
    random.fill(image, cv::RNG::UNIFORM, 0.0, 200.0);
    EXPECT_FALSE(shrinks_by_area_itself(image, shrink.to));
    cv::Mat expected;
    cv::resize(image, expected, shrink.to, 0, 0, cv::INTER_AREA);
    EXPECT_EQ(cv::norm(resize_by_area(image, shrink.to), expected, cv::NORM_INF), 0.0);
  }
}

} // namespace
} // namespace radpipe::transforms
