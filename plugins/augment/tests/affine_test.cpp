#include "affine.hpp"

#include <gtest/gtest.h>

#include <algorithm>
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
  return params(RandomAffine::schema(), {{"rotation", 30.0},
                                         {"shear", 10.0},
                                         {"zoom", std::vector<double>{0.9, 1.1}},
                                         {"translate", 0.1}});
}

// Where the forward map sends (x, y).
cv::Point2d mapped(const cv::Matx23d& m, double x, double y) {
  return {m(0, 0) * x + m(0, 1) * y + m(0, 2), m(1, 0) * x + m(1, 1) * y + m(1, 2)};
}

TEST(RandomAffine, SameSeedEpochAndIndexAreBitIdentical) {
  const cv::Mat image = fracatlas_image();
  const RandomAffine a(busy(), StageContext{});
  const RandomAffine b(busy(), StageContext{}); // a separate object: nothing is carried between calls
  const cv::Mat first = apply(a, image, 17, training(5, 2));
  EXPECT_EQ(cv::norm(first, apply(b, image, 17, training(5, 2))), 0.0);
  EXPECT_EQ(cv::norm(first, apply(a, image, 17, training(5, 2))), 0.0);
  EXPECT_GT(cv::norm(first, image), 0.0); // it did warp
}

TEST(RandomAffine, DifferentIndexEpochOrSeedDiffers) {
  const cv::Mat image = fracatlas_image();
  const RandomAffine stage(busy(), StageContext{});
  const cv::Mat base = apply(stage, image, 17, training(5, 2));
  EXPECT_GT(cv::norm(base, apply(stage, image, 18, training(5, 2))), 0.0);
  EXPECT_GT(cv::norm(base, apply(stage, image, 17, training(5, 3))), 0.0);
  EXPECT_GT(cv::norm(base, apply(stage, image, 17, training(6, 2))), 0.0);
}

TEST(RandomAffine, NeutralSettingsAreTheIdentity) {
  const cv::Mat image = fracatlas_image(cv::IMREAD_COLOR);
  const RandomAffine stage(params(RandomAffine::schema(), {{"rotation", 0.0}}), StageContext{});
  for (std::uint64_t index = 0; index < 20; ++index) EXPECT_TRUE(identical(apply(stage, image, index), image));
  // The warp itself is exact for a neutral draw too, not only skipped.
  const cv::Matx23d m = RandomAffine::matrix(AffineDraw{true}, image.size());
  EXPECT_EQ(m, cv::Matx23d(1, 0, 0, 0, 1, 0));
  EXPECT_TRUE(identical(stage.warp(image, AffineDraw{true}), image));
}

TEST(RandomAffine, DrawsStayWithinTheirBounds) {
  const RandomAffine stage(busy(), StageContext{});
  double lowest = 0.0, highest = 0.0;
  for (std::uint64_t index = 0; index < 1000; ++index) {
    const AffineDraw drawn = stage.draw(index, training());
    ASSERT_TRUE(drawn.applied);
    ASSERT_LE(std::abs(drawn.rotation), 30.0);
    ASSERT_LE(std::abs(drawn.shear), 10.0);
    ASSERT_GE(drawn.scale, 0.9);
    ASSERT_LE(drawn.scale, 1.1);
    ASSERT_LE(std::abs(drawn.translate_x), 0.1);
    ASSERT_LE(std::abs(drawn.translate_y), 0.1);
    lowest = std::min(lowest, drawn.rotation);
    highest = std::max(highest, drawn.rotation);
  }
  EXPECT_LT(lowest, -28.0); // the whole range is used
  EXPECT_GT(highest, 28.0);
}

TEST(RandomAffine, OutputIsWarpAffineOfTheDrawnMatrix) {
  const cv::Mat image = fracatlas_image();
  const RandomAffine stage(busy(), StageContext{});
  for (std::uint64_t index : {0u, 1u, 99u}) {
    const AffineDraw drawn = stage.draw(index, training());
    cv::Mat expected;
    cv::warpAffine(image, expected, RandomAffine::matrix(drawn, image.size()), image.size(), cv::INTER_LINEAR,
                   cv::BORDER_CONSTANT, cv::Scalar::all(0));
    EXPECT_TRUE(identical(apply(stage, image, index), expected)) << "index " << index;
  }
}

TEST(RandomAffine, RotationIsCounterClockwiseAboutTheCentre) {
  // 5x5, centre (2, 2): a quarter turn sends the pixel right of centre, (4, 2), to the top, (2, 0).
  const cv::Matx23d m = RandomAffine::matrix(AffineDraw{true, 90.0}, cv::Size(5, 5));
  const cv::Point2d top = mapped(m, 4, 2);
  EXPECT_NEAR(top.x, 2.0, 1e-12);
  EXPECT_NEAR(top.y, 0.0, 1e-12);

  cv::Mat dot(5, 5, CV_8UC1, cv::Scalar(0));
  dot.at<unsigned char>(2, 4) = 255; // row 2, column 4
  const RandomAffine stage(params(RandomAffine::schema(), {{"interpolation", std::string("nearest")}}),
                           StageContext{});
  const cv::Mat turned = stage.warp(dot, AffineDraw{true, 90.0});
  EXPECT_EQ(turned.at<unsigned char>(0, 2), 255);
  EXPECT_EQ(cv::countNonZero(turned), 1);
}

TEST(RandomAffine, ShearZoomAndTranslateFollowTheFormula) {
  // 11x11, centre (5, 5). Shear 45 degrees: x' = x + (y - 5). Zoom 2 and shift 0.1 * 11 = 1.1 in x.
  const cv::Size size(11, 11);
  const cv::Point2d sheared = mapped(RandomAffine::matrix(AffineDraw{true, 0.0, 45.0}, size), 5, 8);
  EXPECT_NEAR(sheared.x, 8.0, 1e-12);
  EXPECT_NEAR(sheared.y, 8.0, 1e-12);
  const cv::Point2d zoomed = mapped(RandomAffine::matrix(AffineDraw{true, 0.0, 0.0, 2.0, 0.1, 0.0}, size), 6, 5);
  EXPECT_NEAR(zoomed.x, 5.0 + 1.1 + 2.0, 1e-12);
  EXPECT_NEAR(zoomed.y, 5.0, 1e-12);
}

TEST(RandomAffine, FillModes) {
  const cv::Mat flat(40, 40, CV_8UC1, cv::Scalar(100));
  const AffineDraw turn{true, 45.0};
  const RandomAffine constant(params(RandomAffine::schema(), {{"fill_value", 7.0}}), StageContext{});
  EXPECT_EQ(constant.warp(flat, turn).at<unsigned char>(0, 0), 7); // a corner comes from outside
  for (const char* fill : {"replicate", "reflect"}) {
    const RandomAffine stage(params(RandomAffine::schema(), {{"fill", std::string(fill)}}), StageContext{});
    EXPECT_TRUE(identical(stage.warp(flat, turn), flat)) << fill;
  }
}

TEST(RandomAffine, ProbabilityZeroNeverWarps) {
  const cv::Mat image = fracatlas_image();
  const RandomAffine stage(params(RandomAffine::schema(), {{"probability", 0.0}}), StageContext{});
  for (std::uint64_t index = 0; index < 20; ++index) EXPECT_EQ(apply(stage, image, index).data, image.data);
}

TEST(RandomAffine, SixteenBitFloatAndColourAreKept) {
  const RandomAffine stage(busy(), StageContext{});
  cv::Mat deep;
  fracatlas_image().convertTo(deep, CV_16U, 257.0);
  const cv::Mat out = apply(stage, deep, 3);
  ASSERT_EQ(out.type(), CV_16UC1);
  ASSERT_EQ(out.size(), deep.size());
  double high = 0.0;
  cv::minMaxLoc(out, nullptr, &high);
  EXPECT_GT(high, 255.0); // not squeezed into 8 bits on the way
  const cv::Mat real = apply(stage, cv::Mat(30, 20, CV_32FC3, cv::Scalar(0.25, 0.5, 0.75)), 3);
  EXPECT_EQ(real.type(), CV_32FC3);
  EXPECT_EQ(real.size(), cv::Size(20, 30));
}

TEST(RandomAffine, ZoomMinAboveMaxIsAStageError) {
  try {
    RandomAffine stage(params(RandomAffine::schema(), {{"zoom", std::vector<double>{1.2, 0.8}}}), StageContext{});
    FAIL() << "zoom [1.2, 0.8] should be refused";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "zoom");
  }
}

TEST(RandomAffine, DefaultsAreTheMuraRotation) {
  const Params defaults = params(RandomAffine::schema());
  EXPECT_EQ(defaults.real("rotation"), 30.0);
  EXPECT_EQ(defaults.real("probability"), 1.0);
  EXPECT_EQ(defaults.string("fill"), "constant");
  EXPECT_TRUE(RandomAffine(defaults, StageContext{}).is_random());
}

} // namespace
} // namespace radpipe::augment
