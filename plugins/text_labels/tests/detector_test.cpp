// The OpenCV detector on images the test draws: text is found where it was drawn, bright
// anatomy-like blobs are not, and the image's depth and channel count do not change the answer.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "synthetic.hpp"
#include "text_labels.hpp"

namespace {

using namespace radpipe::text_labels;
using namespace radpipe::text_labels::testing;

// The default margin and group_gap are 0.012 of the shorter side: round(0.012 * 400) = 5 pixels
// on a 400x400 image.
constexpr int default_margin_400 = 5;
constexpr int default_group_gap_400 = 5;

TEST(DetectTextLabels, FindsASideLetterAndItsCaptionAsOneLabel) {
  cv::Mat image = noisy_gradient();
  // A 23-pixel "R" with a small caption just under it, as radiograph side markers look; the
  // caption is a component of its own but within the default group_gap, so they form one label.
  const cv::Rect letter = draw_text(image, "R", {120, 180}, 1.0, 2);
  const cv::Rect caption = draw_text(image, "KNEE", {108, 192}, 0.35, 1);
  const int gap = caption.y - (letter.y + letter.height);
  ASSERT_GT(gap, 0);
  ASSERT_LT(gap, default_group_gap_400);

  const std::vector<cv::Rect> boxes = detect_text_labels(image, stage().detector_settings());

  // The ink is 255 on a background of at most 120 + noise, so every ink pixel clears the
  // default pixel contrast (0.25 * 255 = 64) and no background pixel does: the box is the ink's
  // box widened by the margin, exactly.
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_EQ(boxes[0], widened(letter | caption, default_margin_400));
}

TEST(DetectTextLabels, FindsTextOnEitherSideOfTheGradient) {
  cv::Mat image = noisy_gradient();
  const cv::Rect dark_side = draw_text(image, "L", {30, 60}, 0.8, 2);
  const cv::Rect bright_side = draw_text(image, "AP", {320, 330}, 0.6, 2);
  std::vector<cv::Rect> boxes = detect_text_labels(image, stage().detector_settings());
  ASSERT_EQ(boxes.size(), 2u);
  std::sort(boxes.begin(), boxes.end(), [](const cv::Rect& a, const cv::Rect& b) { return a.x < b.x; });
  EXPECT_EQ(boxes[0], widened(dark_side, default_margin_400));
  EXPECT_EQ(boxes[1], widened(bright_side, default_margin_400));
}

TEST(DetectTextLabels, IgnoresBrightBoneLikeBlobs) {
  cv::Mat image = noisy_gradient();
  // A long shaft and a round condyle, blurred like anatomy, 110 and 120 above the background:
  // wider than the default top-hat kernel (0.08 * 400 = 32 pixels) over most of their extent,
  // and where the top-hat keeps their tapering ends, its mean response stays below the default
  // character contrast (0.47 * 255 = 120), which only near-white print on a dark ground reaches.
  cv::Mat bone = cv::Mat::zeros(image.size(), CV_8U);
  cv::ellipse(bone, {200, 180}, {26, 150}, 0, 0, 360, cv::Scalar::all(110), cv::FILLED);
  cv::circle(bone, {200, 340}, 40, cv::Scalar::all(120), cv::FILLED);
  cv::GaussianBlur(bone, bone, {0, 0}, 3);
  image += bone;
  EXPECT_TRUE(detect_text_labels(image, stage().detector_settings()).empty());
}

TEST(DetectTextLabels, AnswersTheSameForEveryDepthAndChannelCount) {
  cv::Mat gray = noisy_gradient();
  draw_text(gray, "R", {120, 180}, 1.0, 2);
  const std::vector<cv::Rect> expected = detect_text_labels(gray, stage().detector_settings());
  ASSERT_EQ(expected.size(), 1u);

  // 16-bit v * 257 and float v / 255 convert back to exactly v, so the detector sees the same pixels.
  cv::Mat wide, unit, colour;
  gray.convertTo(wide, CV_16U, 257.0);
  gray.convertTo(unit, CV_32F, 1.0 / 255.0);
  cv::cvtColor(gray, colour, cv::COLOR_GRAY2RGB);
  for (const cv::Mat& image : {wide, unit, colour})
    EXPECT_EQ(detect_text_labels(image, stage().detector_settings()), expected) << "type " << image.type();
}

TEST(DetectTextLabels, ScalesWithTheImage) {
  // The same drawing at twice the size is found at twice the coordinates, with the margin of an
  // 800-pixel image: round(0.012 * 800) = 10.
  cv::Mat small = noisy_gradient();
  const cv::Rect ink = draw_text(small, "R", {120, 180}, 1.0, 2);
  cv::Mat large;
  cv::resize(small, large, {}, 2.0, 2.0, cv::INTER_NEAREST);
  const std::vector<cv::Rect> boxes = detect_text_labels(large, stage().detector_settings());
  ASSERT_EQ(boxes.size(), 1u);
  EXPECT_EQ(boxes[0], widened(cv::Rect(ink.x * 2, ink.y * 2, ink.width * 2, ink.height * 2), 10));
}

TEST(GroupBoxes, MergesBoxesCloserThanTheGapTransitively) {
  // 5 empty columns between the first two (x 10 to 14) and between the second and third (25 to 29).
  const std::vector<cv::Rect> chain{{0, 0, 10, 10}, {15, 0, 10, 10}, {30, 0, 10, 10}, {100, 100, 5, 5}};
  EXPECT_EQ(group_boxes(chain, 6), (std::vector<cv::Rect>{{0, 0, 40, 10}, {100, 100, 5, 5}}));
  EXPECT_EQ(group_boxes(chain, 5).size(), 4u);
  EXPECT_TRUE(group_boxes({}, 5).empty());
}

TEST(TextCandidates, SaysWhichRuleRejectedAComponent) {
  cv::Mat image = noisy_gradient();
  // A solid 20x20 square: its fill is exactly 1, above the default max_fill of 0.95.
  image(cv::Rect(50, 50, 20, 20)).setTo(255);
  const std::vector<Candidate> candidates = text_candidates(image, stage().detector_settings());
  ASSERT_EQ(candidates.size(), 1u);
  EXPECT_EQ(candidates[0].box, cv::Rect(50, 50, 20, 20));
  EXPECT_DOUBLE_EQ(candidates[0].fill, 1.0);
  EXPECT_FALSE(candidates[0].is_character);
  EXPECT_EQ(candidates[0].rejected_by, "max_fill");
}

} // namespace
