#include "flip.hpp"

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace radpipe::augment {
namespace {

using testing::apply;
using testing::fracatlas_image;
using testing::identical;
using testing::params;
using testing::training;

TEST(RandomFlip, ProbabilityOneEqualsCvFlipExactly) {
  const cv::Mat image = fracatlas_image(cv::IMREAD_COLOR);
  cv::Mat expected;
  const RandomFlip horizontal(params(RandomFlip::schema(), {{"horizontal", 1.0}}), StageContext{});
  cv::flip(image, expected, 1);
  EXPECT_TRUE(identical(apply(horizontal, image, 5), expected));

  const RandomFlip vertical(params(RandomFlip::schema(), {{"horizontal", 0.0}, {"vertical", 1.0}}), StageContext{});
  cv::flip(image, expected, 0);
  EXPECT_TRUE(identical(apply(vertical, image, 5), expected));

  const RandomFlip both(params(RandomFlip::schema(), {{"horizontal", 1.0}, {"vertical", 1.0}}), StageContext{});
  cv::flip(image, expected, -1);
  EXPECT_TRUE(identical(apply(both, image, 5), expected));
}

TEST(RandomFlip, ProbabilityZeroLeavesThePixelsAlone) {
  const cv::Mat image = fracatlas_image();
  const RandomFlip never(params(RandomFlip::schema(), {{"horizontal", 0.0}}), StageContext{});
  for (std::uint64_t index = 0; index < 50; ++index) EXPECT_EQ(apply(never, image, index).data, image.data);
}

TEST(RandomFlip, DefaultFlipsHalfOfAThousandIndicesHorizontally) {
  const RandomFlip flip(params(RandomFlip::schema()), StageContext{});
  const cv::Mat pair = (cv::Mat_<unsigned char>(1, 2) << 1, 2);
  int flipped = 0;
  for (std::uint64_t index = 0; index < 1000; ++index) {
    const cv::Mat out = apply(flip, pair, index);
    flipped += out.at<unsigned char>(0, 0) == 2;
    EXPECT_EQ(flip.draw(index, training()).vertical, false); // vertical defaults to 0
  }
  EXPECT_NEAR(flipped / 1000.0, 0.5, 0.05);
}

TEST(RandomFlip, SameSeedEpochAndIndexGiveTheSameFlip) {
  const RandomFlip a(params(RandomFlip::schema(), {{"vertical", 0.5}}), StageContext{});
  const RandomFlip b(params(RandomFlip::schema(), {{"vertical", 0.5}}), StageContext{});
  const cv::Mat image = fracatlas_image();
  for (std::uint64_t index = 0; index < 20; ++index)
    EXPECT_TRUE(identical(apply(a, image, index, training(9, 2)), apply(b, image, index, training(9, 2))));
}

TEST(RandomFlip, EpochAndSeedChangeTheDraws) {
  const RandomFlip flip(params(RandomFlip::schema()), StageContext{});
  int epoch_changes = 0, seed_changes = 0;
  for (std::uint64_t index = 0; index < 200; ++index) {
    const bool base = flip.draw(index, training(1, 0)).horizontal;
    epoch_changes += base != flip.draw(index, training(1, 1)).horizontal;
    seed_changes += base != flip.draw(index, training(2, 0)).horizontal;
  }
  EXPECT_GT(epoch_changes, 60); // about 100 expected for independent draws
  EXPECT_GT(seed_changes, 60);
}

TEST(RandomFlip, SixteenBitAndFloatAreKept) {
  const RandomFlip flip(params(RandomFlip::schema(), {{"horizontal", 1.0}}), StageContext{});
  cv::Mat deep;
  fracatlas_image().convertTo(deep, CV_16U, 257.0);
  const cv::Mat out = apply(flip, deep, 0);
  ASSERT_EQ(out.type(), CV_16UC1);
  cv::Mat expected;
  cv::flip(deep, expected, 1);
  EXPECT_TRUE(identical(out, expected));
  EXPECT_EQ(apply(flip, cv::Mat(3, 3, CV_32FC3, cv::Scalar::all(0.5)), 0).type(), CV_32FC3);
}

TEST(RandomFlip, IsRandom) {
  EXPECT_TRUE(RandomFlip(params(RandomFlip::schema()), StageContext{}).is_random());
}

} // namespace
} // namespace radpipe::augment
