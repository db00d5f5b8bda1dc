#include "resize.hpp"

#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <radpipe/error.hpp>

#include "test_support.hpp"

namespace radpipe::transforms {
namespace {

using testing::run;

// Rows [first, last) of `image` all equal `value` in every column.
void expect_rows_equal(const cv::Mat& image, int first, int last, double value) {
  for (int r = first; r < last; ++r) {
    double low = 0, high = 0;
    cv::minMaxLoc(image.row(r), &low, &high);
    EXPECT_EQ(low, value) << "row " << r;
    EXPECT_EQ(high, value) << "row " << r;
  }
}

TEST(Resize, PadModeLetterboxesWideImageCentred) {
  // 100x50 into 64x64: scale 0.64 gives 64x32 content, 16 rows of padding above and below.
  const cv::Mat wide(50, 100, CV_8UC1, cv::Scalar(200));
  const cv::Mat out = run<Resize>(wide, {{"size", std::vector<std::int64_t>{64, 64}}, {"pad_value", 7.0}});
  ASSERT_EQ(out.type(), CV_8UC1);
  ASSERT_EQ(out.size(), cv::Size(64, 64));
  expect_rows_equal(out, 0, 16, 7);
  expect_rows_equal(out, 16, 48, 200);
  expect_rows_equal(out, 48, 64, 7);
}

TEST(Resize, OddPaddingPutsTheExtraRowBelow) {
  // 100x49 into 64x64: content 64x31 (49 * 0.64 = 31.36), 33 rows of padding: 16 above, 17 below.
  const cv::Mat wide(49, 100, CV_8UC3, cv::Scalar(10, 20, 30));
  const cv::Mat out = run<Resize>(wide, {{"size", std::vector<std::int64_t>{64, 64}}});
  ASSERT_EQ(out.type(), CV_8UC3);
  ASSERT_EQ(out.size(), cv::Size(64, 64));
  EXPECT_EQ(out.at<cv::Vec3b>(15, 30), cv::Vec3b(0, 0, 0));
  EXPECT_EQ(out.at<cv::Vec3b>(16, 30), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(out.at<cv::Vec3b>(46, 30), cv::Vec3b(10, 20, 30));
  EXPECT_EQ(out.at<cv::Vec3b>(47, 30), cv::Vec3b(0, 0, 0));
}

TEST(Resize, TallImagePadsLeftAndRight) {
  // 20x80 into 32x64: scale 0.8 gives 16x64 content, 8 columns of padding each side.
  const cv::Mat tall(80, 20, CV_8UC1, cv::Scalar(90));
  const cv::Mat out = run<Resize>(tall, {{"size", std::vector<std::int64_t>{32, 64}}, {"pad_value", 1.0}});
  ASSERT_EQ(out.size(), cv::Size(32, 64));
  EXPECT_EQ(out.at<unsigned char>(30, 7), 1);
  EXPECT_EQ(out.at<unsigned char>(30, 8), 90);
  EXPECT_EQ(out.at<unsigned char>(30, 23), 90);
  EXPECT_EQ(out.at<unsigned char>(30, 24), 1);
}

TEST(Resize, SixteenBitDepthIsPreserved) {
  const cv::Mat deep(300, 200, CV_16UC1, cv::Scalar(60000));
  const cv::Mat out =
      run<Resize>(deep, {{"size", std::vector<std::int64_t>{100, 100}}, {"pad_value", 65535.0}});
  ASSERT_EQ(out.type(), CV_16UC1);
  ASSERT_EQ(out.size(), cv::Size(100, 100));
  EXPECT_EQ(out.at<std::uint16_t>(50, 50), 60000);
  EXPECT_EQ(out.at<std::uint16_t>(50, 0), 65535); // 200x300 -> 67x100, padding left
}

TEST(Resize, StretchWithNearestDuplicatesPixels) {
  const cv::Mat tiny = (cv::Mat_<unsigned char>(2, 2) << 10, 20, 30, 40);
  const cv::Mat out = run<Resize>(tiny, {{"size", std::vector<std::int64_t>{8, 12}},
                                         {"mode", std::string("stretch")},
                                         {"interpolation", std::string("nearest")}});
  ASSERT_EQ(out.size(), cv::Size(8, 12));
  EXPECT_EQ(out.at<unsigned char>(0, 0), 10);
  EXPECT_EQ(out.at<unsigned char>(0, 3), 10);
  EXPECT_EQ(out.at<unsigned char>(0, 4), 20);
  EXPECT_EQ(out.at<unsigned char>(5, 7), 20);
  EXPECT_EQ(out.at<unsigned char>(6, 0), 30);
  EXPECT_EQ(out.at<unsigned char>(11, 7), 40);
}

TEST(Resize, ImageAlreadyAtSizeIsUntouched) {
  const cv::Mat image(64, 32, CV_32FC3, cv::Scalar(0.5, 0.25, 1.0));
  const cv::Mat out = run<Resize>(image, {{"size", std::vector<std::int64_t>{32, 64}}});
  EXPECT_EQ(out.data, image.data);
}

TEST(Resize, SchemaRejectsBadSizes) {
  EXPECT_THROW(resolve_params(Resize::schema(), {{"size", std::vector<std::int64_t>{64}}}), StageError);
  EXPECT_THROW(resolve_params(Resize::schema(), {{"size", std::vector<std::int64_t>{4, 64}}}), StageError);
  EXPECT_THROW(resolve_params(Resize::schema(), {}), StageError); // size is required
  EXPECT_THROW(resolve_params(Resize::schema(), {{"size", std::vector<std::int64_t>{64, 64}},
                                                 {"interpolation", std::string("lanczos")}}),
               StageError);
  EXPECT_THROW(resolve_params(Resize::schema(),
                              {{"size", std::vector<std::int64_t>{64, 64}}, {"mode", std::string("fit")}}),
               StageError);
  EXPECT_THROW(
      resolve_params(Resize::schema(), {{"size", std::vector<std::int64_t>{64, 64}}, {"keep_aspect", true}}),
      StageError); // replaced by mode = "pad"
}

TEST(Resize, PadIsTheDefaultMode) {
  const Params params = resolve_params(Resize::schema(), {{"size", std::vector<std::int64_t>{64, 64}}});
  EXPECT_EQ(params.string("mode"), "pad");
}

TEST(Resize, ShorterSideCropCoversThenCutsTheCentre) {
  // 100x50 into 64x64: scale max(0.64, 1.28) = 1.28 gives 128x64, cut from column 32. With
  // nearest, output column 31 is resized column 63 <- source floor(63 / 1.28) = 49 (left half)
  // and output column 32 is resized column 64 <- source 50 (right half).
  cv::Mat halves(50, 100, CV_8UC1, cv::Scalar(10));
  halves.colRange(50, 100).setTo(200);
  const cv::Mat out = run<Resize>(halves, {{"size", std::vector<std::int64_t>{64, 64}},
                                           {"mode", std::string("shorter_side_crop")},
                                           {"interpolation", std::string("nearest")}});
  ASSERT_EQ(out.type(), CV_8UC1);
  ASSERT_EQ(out.size(), cv::Size(64, 64));
  for (int row : {0, 31, 63}) {
    EXPECT_EQ(out.at<unsigned char>(row, 0), 10);
    EXPECT_EQ(out.at<unsigned char>(row, 31), 10);
    EXPECT_EQ(out.at<unsigned char>(row, 32), 200);
    EXPECT_EQ(out.at<unsigned char>(row, 63), 200);
  }
  EXPECT_TRUE(out.isContinuous());
}

TEST(Resize, ShorterSideCropOnTallSixteenBitCutsRows) {
  // 20x80 into 32x32: scale 1.6 gives 32x128, rows 48..79 kept, i.e. source rows 30..49 (nearest:
  // floor(48 / 1.6) = 30, floor(79 / 1.6) = 49). Source rows 30..49 hold 40000, the rest 7.
  cv::Mat tall(80, 20, CV_16UC1, cv::Scalar(7));
  tall.rowRange(30, 50).setTo(40000);
  const cv::Mat out = run<Resize>(tall, {{"size", std::vector<std::int64_t>{32, 32}},
                                         {"mode", std::string("shorter_side_crop")},
                                         {"interpolation", std::string("nearest")}});
  ASSERT_EQ(out.type(), CV_16UC1);
  ASSERT_EQ(out.size(), cv::Size(32, 32));
  double low = 0, high = 0;
  cv::minMaxLoc(out, &low, &high);
  EXPECT_EQ(low, 40000);
  EXPECT_EQ(high, 40000);
}

TEST(Resize, UnknownModeBuiltDirectlyIsAStageError) {
  Params params = resolve_params(Resize::schema(), {{"size", std::vector<std::int64_t>{64, 64}}});
  params.set("mode", std::string("fit"));
  try {
    Resize stage(params, StageContext{});
    FAIL() << "fit is not a mode";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "mode");
  }
}

TEST(Resize, UnknownInterpolationBuiltDirectlyIsAStageError) {
  Params params = resolve_params(Resize::schema(), {{"size", std::vector<std::int64_t>{64, 64}}});
  params.set("interpolation",
             std::string("lanczos")); // bypasses the schema check, as a hand-built Params could
  try {
    Resize stage(params, StageContext{});
    FAIL() << "lanczos is not offered";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "interpolation");
  }
}

} // namespace
TEST(Resize, DeclaresTheSizeTheDecodeMustStillCover) {
  auto hint_of = [](std::map<std::string, ParamValue> values, DecodeHint hint) {
    const Resize resize(resolve_params(Resize::schema(), std::move(values)), StageContext{});
    EXPECT_TRUE(resize.refine_decode_hint(hint));
    return hint;
  };
  const DecodeHint padded = hint_of({{"size", std::vector<std::int64_t>{320, 256}}}, {});
  EXPECT_EQ(padded.min_width, 640); // twice the size: the resize still averages 2x2 pixels or more
  EXPECT_EQ(padded.min_height, 512);
  EXPECT_EQ(padded.cover, DecodeHint::Cover::Either); // fitted inside: one side reaching it is enough
  const DecodeHint cropped =
      hint_of({{"size", std::vector<std::int64_t>{64, 64}}, {"mode", std::string("shorter_side_crop")}}, {});
  EXPECT_EQ(cropped.cover, DecodeHint::Cover::Both);
  // A second resize works on the first one's output and leaves the hint as the first set it.
  const DecodeHint second = hint_of({{"size", std::vector<std::int64_t>{32, 32}}}, padded);
  EXPECT_EQ(second.min_width, 640);
  EXPECT_EQ(second.min_height, 512);
}

} // namespace radpipe::transforms
