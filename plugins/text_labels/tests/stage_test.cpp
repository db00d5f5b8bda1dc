// The stage's parameters and contract: defaults from the schema, errors that name the key, the
// Tesseract detector present or reported absent, and the caller's pixels left alone.
#include <gtest/gtest.h>

#include <radpipe/error.hpp>
#include <string>

#include "synthetic.hpp"

namespace {

using namespace radpipe;
using namespace radpipe::text_labels;
using namespace radpipe::text_labels::testing;

std::string key_of_error(std::map<std::string, ParamValue> values) {
  try {
    stage(std::move(values));
  } catch (const StageError& error) {
    return error.key();
  }
  return "(no error)";
}

TEST(MaskTextLabelsStage, ErrorsNameTheKeyAtFault) {
  EXPECT_EQ(key_of_error({{"fill", std::string("blur")}}), "fill");
  EXPECT_EQ(key_of_error({{"detector", std::string("mser")}}), "detector");
  EXPECT_EQ(key_of_error({{"min_char_height", 0.2}, {"max_char_height", 0.1}}), "min_char_height");
  EXPECT_EQ(key_of_error({{"min_fill", 0.9}, {"max_fill", 0.9}}), "min_fill");
  EXPECT_EQ(key_of_error({{"min_pixel_contrast", 1.5}}), "min_pixel_contrast");
}

TEST(MaskTextLabelsStage, SchemaSaysWhetherTesseractIsCompiledIn) {
  const ParamSpec* detector = MaskTextLabels::schema().find("detector");
  ASSERT_NE(detector, nullptr);
  EXPECT_EQ(detector->doc.find("NOT compiled") == std::string::npos, tesseract_compiled_in) << detector->doc;
}

#if RADPIPE_TEXT_LABELS_WITH_TESSERACT
TEST(MaskTextLabelsStage, TesseractDetectorFindsLargePrintedWords) {
  // Large, clean text on a flat background, which any OCR must read: the boxes it reports must
  // cover the drawn word (centre inside its ink box widened by the margin).
  cv::Mat image(300, 600, CV_8U, cv::Scalar::all(50));
  const cv::Rect ink = draw_text(image, "RIGHT KNEE", {40, 160}, 2.0, 4);
  const std::vector<cv::Rect> boxes = stage({{"detector", std::string("tesseract")}}).find_labels(image);
  ASSERT_FALSE(boxes.empty());
  for (const cv::Rect& box : boxes) {
    const cv::Point centre(box.x + box.width / 2, box.y + box.height / 2);
    EXPECT_TRUE(widened(ink, 4).contains(centre)) << box << " is not on the word at " << ink;
  }
}
#else
TEST(MaskTextLabelsStage, ChoosingTesseractWithoutItIsAnErrorOnTheDetectorKey) {
  try {
    stage({{"detector", std::string("tesseract")}});
    FAIL() << "expected a StageError";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "detector");
    EXPECT_NE(std::string(error.what()).find("RADPIPE_WITH_TESSERACT"), std::string::npos) << error.what();
  }
}
#endif

TEST(MaskTextLabelsStage, LeavesTheCallersPixelsAlone) {
  cv::Mat image = noisy_gradient();
  draw_text(image, "L", {100, 100}, 1.0, 2);
  const cv::Mat original = image.clone();
  Sample sample;
  sample.info.id = "shared";
  sample.image = image; // shares image's pixels
  stage({{"fill", std::string("zero")}}).apply(sample, TransformContext{});
  EXPECT_GT(cv::norm(sample.image, original, cv::NORM_INF), 0.0);
  EXPECT_EQ(cv::norm(image, original, cv::NORM_INF), 0.0);
}

TEST(MaskTextLabelsStage, RejectsAnImageThatIsNotARadpipeImage) {
  Sample sample;
  sample.info.id = "four-channels";
  sample.info.path = "/in/memory.png";
  sample.image = cv::Mat(50, 50, CV_8UC4, cv::Scalar::all(0));
  EXPECT_THROW(stage().apply(sample, TransformContext{}), SampleError);
}

} // namespace
