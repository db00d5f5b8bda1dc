// radpipe SDK: what flows between stages before batching.
#pragma once

#include <opencv2/core/mat.hpp>

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace radpipe {

// Everything known about one image except its pixels. Readers fill what their source has;
// fields a source lacks stay empty (for example FracAtlas has no patient ids).
struct SampleInfo {
  std::string id;         // unique within a run; used as the row key in outputs
  std::string path;       // where the pixels come from (file path or URI)
  std::string patient_id; // groups studies for patient-level splits
  std::string study_id;   // groups images into one study verdict; defaults to id
  std::string body_part;  // lower-case study type: hand, wrist, elbow, leg, ...
  std::string view;       // frontal, lateral, oblique, AP, PA, ...
  std::string split;      // train, valid, test, or empty when unknown
  std::optional<int> label; // class index (0 = normal, 1 = abnormal for binary tasks)
  std::optional<std::array<double, 2>> pixel_spacing_mm; // row, column spacing
  std::map<std::string, std::string> tags; // further source fields (DICOM tags, CSV columns)
  std::uint64_t index = 0; // position in the reader's enumeration, for seeded augmentation

  // The study this image belongs to; an image without study id is its own study.
  const std::string& study_key() const { return study_id.empty() ? id : study_id; }
};

// One decoded image. `image` is single- or three-channel, CV_8U, CV_16U or CV_32F.
struct Sample {
  SampleInfo info;
  cv::Mat image;
};

} // namespace radpipe
