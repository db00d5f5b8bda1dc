#include "tesseract_detector.hpp"

#include <tesseract/baseapi.h>
#include <tesseract/resultiterator.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>
#include <opencv2/imgproc.hpp>
#include <radpipe/error.hpp>
#include <string>

#include "text_labels.hpp"

namespace radpipe::text_labels {
namespace {

bool has_letter_or_digit(const char* text) {
  if (!text) return false;
  const std::string word(text);
  return std::any_of(word.begin(), word.end(), [](unsigned char c) { return std::isalnum(c) != 0; });
}

} // namespace

std::vector<cv::Rect> detect_text_with_tesseract(const cv::Mat& image, const TesseractSettings& settings) {
  // One engine per call: TessBaseAPI is not safe to share between threads, and a stage's apply
  // may run on several at once.
  tesseract::TessBaseAPI api;
  if (api.Init(nullptr, "eng") != 0)
    throw StageError("detector",
                     "Tesseract could not load its English data; install tesseract-ocr-eng or point "
                     "TESSDATA_PREFIX at a folder holding eng.traineddata");
  api.SetVariable("debug_file", "/dev/null"); // its warnings would otherwise go to stderr per image
  api.SetPageSegMode(tesseract::PSM_SPARSE_TEXT);

  // Radiograph labels are bright on dark; Tesseract reads dark text on a light page best.
  cv::Mat page;
  cv::resize(to_gray8(image), page, {}, settings.upscale, settings.upscale, cv::INTER_CUBIC);
  cv::bitwise_not(page, page);
  api.SetImage(page.data, page.cols, page.rows, 1, static_cast<int>(page.step));
  api.SetSourceResolution(300);
  if (api.Recognize(nullptr) != 0) return {};

  std::vector<cv::Rect> boxes;
  const std::unique_ptr<tesseract::ResultIterator> word(api.GetIterator());
  if (!word) return boxes;
  const cv::Rect whole({}, image.size());
  constexpr auto level = tesseract::RIL_WORD;
  do {
    if (word->Confidence(level) < settings.min_confidence) continue;
    const std::unique_ptr<char[]> text(word->GetUTF8Text(level));
    if (!has_letter_or_digit(text.get())) continue;
    int left = 0, top = 0, right = 0, bottom = 0;
    if (!word->BoundingBox(level, &left, &top, &right, &bottom)) continue;
    const auto back = [&](int value) { return static_cast<int>(std::lround(value / settings.upscale)); };
    const cv::Rect box =
        cv::Rect(cv::Point(back(left), back(top)), cv::Point(back(right), back(bottom))) & whole;
    if (box.area() > 0) boxes.push_back(box);
  } while (word->Next(level));
  api.End();
  return boxes;
}

} // namespace radpipe::text_labels
