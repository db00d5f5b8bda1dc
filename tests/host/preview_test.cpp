// The pieces of `radpipe preview` that decide what a person sees: how pixels map to display
// values and where each image lands on a contact sheet.
#include "commands/preview.hpp"

#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <vector>

using namespace radpipe::host;

namespace {

radpipe::Sample sample_of(cv::Mat image, const std::string& id) {
  radpipe::Sample sample;
  sample.info.id = id;
  sample.image = std::move(image);
  return sample;
}

} // namespace

TEST(PreviewDisplay, IntegerDepthsShowAtTheirFullScale) {
  std::string note;
  // 8-bit as is; 16-bit / 257: 51400 -> 200 and 65535 -> 255.
  const cv::Mat eight = display_image((cv::Mat_<unsigned char>(1, 2) << 7, 200), note);
  ASSERT_EQ(eight.type(), CV_8UC3);
  EXPECT_EQ(eight.at<cv::Vec3b>(0, 1), cv::Vec3b(200, 200, 200));
  const cv::Mat sixteen = display_image((cv::Mat_<std::uint16_t>(1, 2) << 51400, 65535), note);
  EXPECT_EQ(sixteen.at<cv::Vec3b>(0, 0), cv::Vec3b(200, 200, 200));
  EXPECT_EQ(sixteen.at<cv::Vec3b>(0, 1), cv::Vec3b(255, 255, 255));
  EXPECT_TRUE(note.empty());
}

TEST(PreviewDisplay, RgbBecomesBgrForTheImageFile) {
  std::string note;
  const cv::Mat shown = display_image(cv::Mat(1, 1, CV_8UC3, cv::Scalar(10, 20, 30)), note); // R, G, B
  EXPECT_EQ(shown.at<cv::Vec3b>(0, 0), cv::Vec3b(30, 20, 10));
}

TEST(PreviewDisplay, FloatOnTheUnitScaleIsNotStretched) {
  std::string note;
  // 0.2 * 255 = 51; 1 -> 255. The range already lies in [0, 1], so no stretch and no note.
  const cv::Mat shown = display_image((cv::Mat_<float>(1, 2) << 0.2f, 1.0f), note);
  EXPECT_EQ(shown.at<cv::Vec3b>(0, 0)[0], 51);
  EXPECT_EQ(shown.at<cv::Vec3b>(0, 1)[0], 255);
  EXPECT_TRUE(note.empty());
}

TEST(PreviewDisplay, StandardisedFloatIsStretchedFromItsOwnRange) {
  std::string note;
  // -1..3 onto 0..255: -1 -> 0, 0 -> 63.75 -> 64, 3 -> 255.
  const cv::Mat shown = display_image((cv::Mat_<float>(1, 3) << -1.0f, 0.0f, 3.0f), note);
  EXPECT_EQ(shown.at<cv::Vec3b>(0, 0)[0], 0);
  EXPECT_EQ(shown.at<cv::Vec3b>(0, 1)[0], 64);
  EXPECT_EQ(shown.at<cv::Vec3b>(0, 2)[0], 255);
  EXPECT_EQ(note, "stretched -1..3");
}

TEST(PreviewSheet, FiveImagesMakeAThreeByTwoGrid) {
  // ceil(sqrt(5)) = 3 columns, ceil(5 / 3) = 2 rows. Width: 8 + 3 * (64 + 8) = 224; height:
  // 48 + 2 * (64 + 34 + 8) = 260.
  const SheetLayout layout(5, 64);
  EXPECT_EQ(layout.columns, 3);
  EXPECT_EQ(layout.rows, 2);
  EXPECT_EQ(layout.size(), cv::Size(224, 260));
  EXPECT_EQ(layout.image_area(4), cv::Rect(8 + 72, 48 + 106, 64, 64));
}

TEST(PreviewSheet, EachImageIsLetterboxedIntoItsCell) {
  // A 64x64 image fills its cell exactly; a 64x32 one is centred with 16 rows of background
  // above and below.
  std::vector<radpipe::Sample> samples;
  samples.push_back(sample_of(cv::Mat(64, 64, CV_8UC1, cv::Scalar(200)), "square"));
  samples.push_back(sample_of(cv::Mat(32, 64, CV_8UC1, cv::Scalar(90)), "wide"));
  const cv::Mat sheet = contact_sheet(samples, "title", "subtitle", 64);
  const SheetLayout layout(2, 64);
  ASSERT_EQ(sheet.size(), layout.size());

  const cv::Mat square = sheet(layout.image_area(0));
  EXPECT_EQ(cv::countNonZero(square.reshape(1) != 200), 0);
  const cv::Rect wide_area = layout.image_area(1);
  const cv::Mat wide = sheet(cv::Rect(wide_area.x, wide_area.y + 16, 64, 32));
  EXPECT_EQ(cv::countNonZero(wide.reshape(1) != 90), 0);
  const cv::Mat above = sheet(cv::Rect(wide_area.x, wide_area.y, 64, 16));
  EXPECT_EQ(cv::countNonZero(above.reshape(1) != 32), 0) << "the letterbox is the sheet's background (32)";
}
