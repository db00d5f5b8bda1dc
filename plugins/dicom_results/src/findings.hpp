// What a study's result objects say: the model's verdict on the study and on each image, the
// operating point, and which model said it. Filled by the writer stages from a run's predictions.
#pragma once

#include <string>
#include <vector>

#include "source_header.hpp"

namespace radpipe::dicom_results {

// The model as the results name it; the checkpoint's hash pins the exact weights.
struct ModelIdentity {
  std::string name;
  std::string version;
  std::string checkpoint_sha256; // 64 lower-case hex digits
};

struct ImageFinding {
  SourceHeader source;
  double probability = 0.0; // of the positive (abnormal) class
};

struct StudyFindings {
  std::vector<ImageFinding> images; // every scored image of the study, in scoring order
  double probability = 0.0;         // the aggregated study probability
  double threshold = 0.5;           // the operating point: abnormal when probability >= threshold
  std::string body_part;            // radpipe's (lower-case); the coded site when the source has none
  std::string chain;                // the model chain that scored the study
  ModelIdentity model;

  bool abnormal() const { return probability >= threshold; }
  // The source study's UID (of the first image; all images belong to it).
  std::string study_uid() const;
};

// Where the result objects go in the study, and how they present themselves.
struct ResultSeriesOptions {
  std::string uid_root = "2.25";
  int report_series_number = 9901;
  int capture_series_number = 9902;
  std::string station_name = "RADPIPE";
  int capture_max_side = 1024; // the secondary captures are scaled down to fit this many pixels
};

// The UIDs of a study's results: derived from the root, the source study and the checkpoint hash.
struct ResultUids {
  std::string report_series;
  std::string report_instance;
  std::string capture_series;
  std::string study_tracking;  // the study verdict's measurement group
  std::string device_observer; // the model, as an SR observer

  static ResultUids of(const std::string& root, const std::string& study_uid,
                       const std::string& checkpoint_sha256);
  // The secondary capture of one source image, and the tracking UID of its measurement group.
  static std::string capture_instance(const std::string& root, const std::string& study_uid,
                                      const std::string& checkpoint_sha256,
                                      const std::string& source_sop_uid);
  static std::string image_tracking(const std::string& root, const std::string& study_uid,
                                    const std::string& checkpoint_sha256, const std::string& source_sop_uid);
};

// The text a human reads about a verdict, the same on the secondary capture and in the report:
// "ABNORMAL (p = 0.83, threshold 0.50)".
std::string verdict_text(double probability, double threshold);
// `value` with `decimals` digits after the point ("0.8312").
std::string decimal_text(double value, int decimals);

// Replaces anything outside printable ASCII with '?': result texts are written in the source's
// character set, which every DICOM character set extends from ASCII.
std::string printable_ascii(const std::string& text);

} // namespace radpipe::dicom_results
