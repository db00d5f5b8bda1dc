/// @file
/// @brief What flows between stages before batching: a Sample and its SampleInfo.
#pragma once

#include <opencv2/core/mat.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace radpipe {

/// Everything known about one image except its pixels. Readers fill what their source has;
/// fields a source lacks stay empty (for example FracAtlas has no patient ids).
struct SampleInfo {
  std::string id;         ///< Unique within a run; the row key in outputs.
  std::string path;       ///< Where the pixels come from (file path or URI).
  std::string patient_id; ///< Groups studies for patient-level splits.
  std::string study_id;   ///< Groups images into one study verdict; empty: the image is its own study.
  std::string body_part;  ///< Lower-case study type: hand, wrist, elbow, leg, ...
  std::string view;       ///< frontal, lateral, oblique, AP, PA, ...
  std::string split;      ///< train, valid, test, or empty when unknown.
  std::optional<int> label; ///< Class index (0 = normal, 1 = abnormal for binary tasks), when known.
  std::optional<std::array<double, 2>> pixel_spacing_mm; ///< Row and column spacing, when known.
  std::map<std::string, std::string> tags; ///< Further source fields (DICOM tags, CSV columns).
  std::uint64_t index = 0; ///< Position in the reader's enumeration, for seeded augmentation.

  /// The study this image belongs to; an image without study id is its own study.
  const std::string& study_key() const { return study_id.empty() ? id : study_id; }
};

/// One decoded image and its metadata. `image` has 1 channel (gray) or 3 (RGB), depth CV_8U,
/// CV_16U or CV_32F (see image.hpp).
struct Sample {
  SampleInfo info; ///< Everything known about the image but its pixels.
  cv::Mat image;   ///< The pixels.
};

} // namespace radpipe
