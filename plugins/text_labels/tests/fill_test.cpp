// Each fill mode covers the drawn text and changes no pixel outside the boxes the stage reports.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>
#include <string>

#include "synthetic.hpp"

namespace {

using namespace radpipe;
using namespace radpipe::text_labels::testing;

struct Masked {
  cv::Mat before, after, in_boxes; // in_boxes: 255 inside the reported boxes
  std::vector<cv::Rect> boxes;
  cv::Mat ink; // 255 where text was drawn
};

Masked mask_drawn_text(const std::string& fill, int type = CV_8UC1) {
  cv::Mat gray = noisy_gradient();
  const cv::Mat background = gray.clone();
  draw_text(gray, "R", {120, 180}, 1.0, 2);
  draw_text(gray, "AP", {300, 80}, 0.6, 2);
  Masked result;
  result.ink = gray != background;
  const double scale = CV_MAT_DEPTH(type) == CV_16U   ? 257.0
                       : CV_MAT_DEPTH(type) == CV_32F ? 1.0 / 255.0
                                                      : 1.0;
  cv::Mat image;
  gray.convertTo(image, CV_MAT_DEPTH(type), scale);
  if (CV_MAT_CN(type) == 3) cv::cvtColor(image, image, cv::COLOR_GRAY2RGB);
  result.before = image;

  const text_labels::MaskTextLabels masker = stage({{"fill", fill}});
  result.boxes = masker.find_labels(image);
  Sample sample;
  sample.info.id = "drawn";
  sample.image = image;
  masker.apply(sample, TransformContext{});
  result.after = sample.image;
  result.in_boxes = cv::Mat::zeros(image.size(), CV_8U);
  for (const cv::Rect& box : result.boxes) result.in_boxes(box).setTo(255);
  return result;
}

// Pixels that differ in any channel.
cv::Mat changed(const cv::Mat& a, const cv::Mat& b) {
  cv::Mat difference;
  cv::absdiff(a, b, difference);
  if (difference.channels() > 1) cv::transform(difference, difference, cv::Matx13f(1, 1, 1));
  return difference > 0;
}

void expect_changes_only_inside_boxes_and_all_ink_covered(const Masked& masked) {
  ASSERT_EQ(masked.boxes.size(), 2u);
  const cv::Mat changes = changed(masked.before, masked.after);
  EXPECT_EQ(cv::countNonZero(changes & ~masked.in_boxes), 0) << "pixels changed outside the boxes";
  EXPECT_EQ(cv::countNonZero(masked.ink & ~masked.in_boxes), 0) << "ink outside the boxes";
  EXPECT_EQ(cv::countNonZero(masked.ink & ~changes), 0) << "ink left as it was";
}

TEST(FillModes, ZeroBlacksOutTheBoxesAndNothingElse) {
  const Masked masked = mask_drawn_text("zero");
  expect_changes_only_inside_boxes_and_all_ink_covered(masked);
  double brightest = 0.0;
  cv::minMaxLoc(masked.after, nullptr, &brightest, nullptr, nullptr, masked.in_boxes);
  EXPECT_EQ(brightest, 0.0);
}

TEST(FillModes, LocalBackgroundTakesTheGradientValueAroundEachBox) {
  const Masked masked = mask_drawn_text("local_background");
  expect_changes_only_inside_boxes_and_all_ink_covered(masked);
  for (const cv::Rect& box : masked.boxes) {
    double low = 0.0, high = 0.0;
    cv::minMaxLoc(masked.after(box), &low, &high);
    EXPECT_EQ(low, high) << "a box is filled with one value";
    // The ring is symmetric about the box and the gradient linear, so its median is the
    // gradient at the box's centre column, up to the noise's effect on a median (well under 3).
    EXPECT_NEAR(low, gradient_at(box.x + box.width / 2, masked.after.cols), 3.0);
  }
}

TEST(FillModes, InpaintRebuildsTheBackgroundFromTheBorders) {
  const Masked masked = mask_drawn_text("inpaint");
  expect_changes_only_inside_boxes_and_all_ink_covered(masked);
  for (const cv::Rect& box : masked.boxes) {
    double high = 0.0;
    cv::minMaxLoc(masked.after(box), nullptr, &high);
    // The background near the boxes is at most 120 + noise; white ink (255) must not survive.
    EXPECT_LT(high, 160.0);
    EXPECT_NEAR(cv::mean(masked.after(box))[0], gradient_at(box.x + box.width / 2, masked.after.cols), 10.0);
  }
}

TEST(FillModes, EveryFillWorksOnEveryDepthAndChannelCount) {
  for (const std::string fill : {"zero", "local_background", "inpaint"})
    for (const int type : {CV_8UC1, CV_8UC3, CV_16UC1, CV_16UC3, CV_32FC1, CV_32FC3}) {
      SCOPED_TRACE(fill + " on type " + std::to_string(type));
      const Masked masked = mask_drawn_text(fill, type);
      EXPECT_EQ(masked.after.type(), type);
      expect_changes_only_inside_boxes_and_all_ink_covered(masked);
    }
}

} // namespace
