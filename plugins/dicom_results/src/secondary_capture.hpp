// A Secondary Capture of a scored radiograph: the image scaled down, the Grad-CAM heatmap blended
// over it when there is one, and a banner above it with the verdict, the model and "NOT FOR
// DIAGNOSTIC USE". The object says the same in its attributes (BurnedInAnnotation YES,
// ImageComments, DerivationDescription), references its source image, and lives in the source's
// study under a derived series.
#pragma once

#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "dicom_object.hpp"
#include "findings.hpp"

namespace radpipe::dicom_results {

struct CaptureFacts {
  double probability = 0.0; // this image's
  double threshold = 0.5;
  std::string chain;
  ModelIdentity model;
  bool has_heatmap = false;
};

// The banner's lines: the verdict, the model, the warning.
std::vector<std::string> capture_lines(const CaptureFacts& facts);

// The picture: `radiograph` (CV_16UC1 over 0..65535 as radpipe decodes DICOM, or CV_8UC1) scaled
// to fit `max_side`, `heatmap` (CV_32FC1 in [0, 1], any size, or empty) blended in by its heat, and
// the banner added above the image so that no anatomy is covered. CV_8UC3 in RGB order.
cv::Mat render_capture(const cv::Mat& radiograph, const cv::Mat& heatmap,
                       const std::vector<std::string>& lines, bool abnormal, int max_side);

// The Secondary Capture object of `picture` (CV_8UC3, RGB) made from `source`.
DicomObject make_secondary_capture(const SourceHeader& source, const cv::Mat& picture,
                                   const CaptureFacts& facts, const ResultSeriesOptions& options,
                                   int instance_number);

} // namespace radpipe::dicom_results
