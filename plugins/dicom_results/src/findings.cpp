#include "findings.hpp"

#include <cmath>
#include <cstdio>

#include "uids.hpp"

namespace radpipe::dicom_results {

std::string StudyFindings::study_uid() const {
  if (images.empty()) throw DicomResultError("a study without images has no results");
  return images.front().source.study_uid();
}

ResultUids ResultUids::of(const std::string& root, const std::string& study_uid,
                          const std::string& checkpoint_sha256) {
  const auto uid = [&](std::string_view kind) {
    return derive_uid(root, {"radpipe", kind, study_uid, checkpoint_sha256});
  };
  return ResultUids{uid("report series"), uid("report"), uid("capture series"), uid("study verdict"),
                    derive_uid(root, {"radpipe", "model", checkpoint_sha256})};
}

std::string ResultUids::capture_instance(const std::string& root, const std::string& study_uid,
                                         const std::string& checkpoint_sha256,
                                         const std::string& source_sop_uid) {
  return derive_uid(root, {"radpipe", "capture", study_uid, checkpoint_sha256, source_sop_uid});
}

std::string ResultUids::image_tracking(const std::string& root, const std::string& study_uid,
                                       const std::string& checkpoint_sha256,
                                       const std::string& source_sop_uid) {
  return derive_uid(root, {"radpipe", "image verdict", study_uid, checkpoint_sha256, source_sop_uid});
}

std::string decimal_text(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, std::isfinite(value) ? value : 0.0);
  return text;
}

std::string verdict_text(double probability, double threshold) {
  return std::string(probability >= threshold ? "ABNORMAL" : "normal") +
         " (p = " + decimal_text(probability, 2) + ", threshold " + decimal_text(threshold, 2) + ")";
}

std::string printable_ascii(const std::string& text) {
  std::string result = text;
  for (char& c : result)
    if (c < 0x20 || c > 0x7e) c = '?';
  return result;
}

} // namespace radpipe::dicom_results
