#include "crop.hpp"

#include <gtest/gtest.h>

#include <radpipe/error.hpp>

#include "test_support.hpp"

namespace radpipe::augment {
namespace {

using testing::apply;
using testing::identical;
using testing::params;
using testing::training;

// 10 wide, 8 high, pixel (x, y) = 100 * y + x: every window has its own content.
cv::Mat numbered() {
  cv::Mat image(8, 10, CV_16UC1);
  for (int y = 0; y < image.rows; ++y)
    for (int x = 0; x < image.cols; ++x) image.at<std::uint16_t>(y, x) = static_cast<std::uint16_t>(100 * y + x);
  return image;
}

Params crop_4x3() {
  return params(RandomCrop::schema(), {{"size", std::vector<std::int64_t>{4, 3}}});
}

TEST(RandomCrop, CutsTheDrawnWindow) {
  const cv::Mat image = numbered();
  const RandomCrop stage(crop_4x3(), StageContext{});
  for (std::uint64_t index = 0; index < 20; ++index) {
    const cv::Rect window = stage.draw(image.size(), index, training());
    const cv::Mat out = apply(stage, image, index);
    ASSERT_EQ(out.size(), cv::Size(4, 3));
    ASSERT_EQ(out.type(), CV_16UC1);
    EXPECT_EQ(out.at<std::uint16_t>(0, 0), 100 * window.y + window.x);
    EXPECT_TRUE(identical(out, image(window)));
    EXPECT_TRUE(out.isContinuous());
  }
}

TEST(RandomCrop, EveryPositionIsReached) {
  const RandomCrop stage(crop_4x3(), StageContext{});
  int min_x = 100, max_x = -1, min_y = 100, max_y = -1;
  for (std::uint64_t index = 0; index < 1000; ++index) {
    const cv::Rect window = stage.draw(cv::Size(10, 8), index, training());
    min_x = std::min(min_x, window.x);
    max_x = std::max(max_x, window.x);
    min_y = std::min(min_y, window.y);
    max_y = std::max(max_y, window.y);
  }
  EXPECT_EQ(min_x, 0);
  EXPECT_EQ(max_x, 6); // 10 - 4
  EXPECT_EQ(min_y, 0);
  EXPECT_EQ(max_y, 5); // 8 - 3
}

TEST(RandomCrop, SameIndexSameWindowAndOthersVary) {
  const RandomCrop a(crop_4x3(), StageContext{});
  const RandomCrop b(crop_4x3(), StageContext{});
  const cv::Mat image = numbered();
  EXPECT_TRUE(identical(apply(a, image, 7, training(1, 4)), apply(b, image, 7, training(1, 4))));
  int different = 0;
  for (std::uint64_t index = 0; index < 20; ++index)
    different += !identical(apply(a, image, 7, training(1, 4)), apply(a, image, index + 100, training(1, 4)));
  EXPECT_GT(different, 10);
}

TEST(RandomCrop, SmallerImageIsPaddedCentredFirst) {
  // 2x2 into 4x2: one column of padding each side, no room left to move.
  const cv::Mat image = (cv::Mat_<unsigned char>(2, 2) << 1, 2, 3, 4);
  const RandomCrop stage(params(RandomCrop::schema(), {{"size", std::vector<std::int64_t>{4, 2}}, {"pad_value", 9.0}}),
                         StageContext{});
  EXPECT_TRUE(identical(apply(stage, image, 0), (cv::Mat_<unsigned char>(2, 4) << 9, 1, 2, 9, 9, 3, 4, 9)));
}

TEST(RandomCrop, SizeIsRequired) {
  EXPECT_THROW(params(RandomCrop::schema()), StageError);
  EXPECT_TRUE(RandomCrop(crop_4x3(), StageContext{}).is_random());
}

} // namespace
} // namespace radpipe::augment
