// Text boxes from Tesseract OCR, for builds configured with RADPIPE_WITH_TESSERACT.
#pragma once

#include <opencv2/core/mat.hpp>
#include <vector>

namespace radpipe::text_labels {

struct TesseractSettings {
  double min_confidence = 0.0; // Tesseract's word confidence, 0..100
  double upscale = 1.0;        // labels on radiographs are a few pixels tall; OCR wants ~20+
};

// Boxes of the words Tesseract reads in `image` (any radpipe image form) with at least the
// given confidence and at least one letter or digit, in the image's pixel coordinates. Throws
// StageError (key "detector") when Tesseract or its English data cannot be loaded.
std::vector<cv::Rect> detect_text_with_tesseract(const cv::Mat& image, const TesseractSettings& settings);

} // namespace radpipe::text_labels
