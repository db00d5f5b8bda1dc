// The transform stage `mask_text_labels`: finds burned-in text labels and covers them.
#pragma once

#include <opencv2/core/mat.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <vector>

#include "fill.hpp"
#include "tesseract_detector.hpp"
#include "text_labels.hpp"

namespace radpipe::text_labels {

// Whether this build has the Tesseract detector (CMake option RADPIPE_WITH_TESSERACT).
constexpr bool tesseract_compiled_in = RADPIPE_TEXT_LABELS_WITH_TESSERACT != 0;

class MaskTextLabels final : public Transform {
 public:
  MaskTextLabels(const Params& params, const StageContext& context);
  static Schema schema();
  void apply(Sample& sample, const TransformContext& context) const override;

  // The boxes this stage masks in `image`, in its pixel coordinates, margin included.
  std::vector<cv::Rect> find_labels(const cv::Mat& image) const;
  // The OpenCV detector's settings as this stage resolved them from its parameters.
  const DetectorSettings& detector_settings() const { return detector_; }

 private:
  StageContext context_;
  bool use_tesseract_;
  DetectorSettings detector_;
  TesseractSettings tesseract_;
  Fill fill_;
  double ring_;           // fraction of the shorter side
  double inpaint_radius_; // fraction of the shorter side
};

} // namespace radpipe::text_labels
