#include "crop.hpp"

#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <radpipe/error.hpp>

#include "test_support.hpp"

namespace radpipe::transforms {
namespace {

using testing::expect_same;
using testing::run;

TEST(CenterCrop, CutsTheCentredWindow) {
  // 4 wide, 3 high; a 2x1 window starts at column (4 - 2) / 2 = 1, row (3 - 1) / 2 = 1.
  const cv::Mat image = (cv::Mat_<unsigned char>(3, 4) << 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11);
  expect_same(run<CenterCrop>(image, {{"size", std::vector<std::int64_t>{2, 1}}}),
              (cv::Mat_<unsigned char>(1, 2) << 5, 6));
}

TEST(CenterCrop, OddExcessIsCutOnTheRightAndBottom) {
  // 5x4 to 2x1: start column (5 - 2) / 2 = 1, start row (4 - 1) / 2 = 1.
  const cv::Mat image = (cv::Mat_<std::uint16_t>(4, 5) << 0, 1, 2, 3, 4, 10, 11, 12, 13, 14, 20, 21, 22, 23,
                         24, 30, 31, 32, 33, 34);
  expect_same(run<CenterCrop>(image, {{"size", std::vector<std::int64_t>{2, 1}}}),
              (cv::Mat_<std::uint16_t>(1, 2) << 11, 12));
}

TEST(CenterCrop, SmallerImageIsPaddedCentred) {
  // 2x2 to 4x3: one column each side, the single missing row below.
  const cv::Mat image = (cv::Mat_<float>(2, 2) << 1, 2, 3, 4);
  expect_same(run<CenterCrop>(image, {{"size", std::vector<std::int64_t>{4, 3}}, {"pad_value", 9.0}}),
              (cv::Mat_<float>(3, 4) << 9, 1, 2, 9, 9, 3, 4, 9, 9, 9, 9, 9));
}

TEST(CenterCrop, KeepsColourAndReturnsACompactCopy) {
  cv::Mat image(6, 6, CV_8UC3, cv::Scalar(1, 2, 3));
  image.at<cv::Vec3b>(2, 2) = cv::Vec3b(7, 8, 9);
  const cv::Mat out = run<CenterCrop>(image, {{"size", std::vector<std::int64_t>{2, 2}}});
  ASSERT_EQ(out.type(), CV_8UC3);
  ASSERT_EQ(out.size(), cv::Size(2, 2));
  EXPECT_EQ(out.at<cv::Vec3b>(0, 0), cv::Vec3b(7, 8, 9));
  EXPECT_EQ(out.at<cv::Vec3b>(1, 1), cv::Vec3b(1, 2, 3));
  EXPECT_TRUE(out.isContinuous());
  EXPECT_NE(out.data, image.data + 2 * image.step[0] + 2 * 3); // not a view into the input
}

TEST(CenterCrop, SizeIsRequiredAndPositive) {
  EXPECT_THROW(resolve_params(CenterCrop::schema(), {}), StageError);
  EXPECT_THROW(resolve_params(CenterCrop::schema(), {{"size", std::vector<std::int64_t>{0, 4}}}), StageError);
}

} // namespace
} // namespace radpipe::transforms
