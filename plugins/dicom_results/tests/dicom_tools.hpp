// Test helpers shared by the dicom_results and orthanc tests: radiographs written as DICOM files
// (real CR objects made with DCMTK from real pixels), and the validators and dumpers of dicom3tools
// and DCMTK, run as the programs a PACS administrator would run.
#pragma once

#include <filesystem>
#include <opencv2/core/mat.hpp>
#include <radpipe/stages.hpp>
#include <span>
#include <string>
#include <vector>

namespace radpipe::dicom_results::testing {

struct RadiographSpec {
  cv::Mat pixels; // CV_8UC1 or CV_16UC1
  std::string patient_id = "RP-0001";
  std::string patient_name = "Test^Radiograph";
  std::string study_uid = "1.2.826.0.1.3680043.10.543.20";
  std::string series_uid = "1.2.826.0.1.3680043.10.543.20.1";
  std::string sop_uid = "1.2.826.0.1.3680043.10.543.20.1.1";
  std::string study_date = "20240105";
  std::string accession = "ACC0001";
  std::string body_part = "HAND"; // BodyPartExamined
  std::string modality = "CR";    // or DX
  int instance_number = 1;
};

// A radiograph of the spec (explicit VR little endian): a Computed Radiography Image Storage
// object, or a Digital X-Ray one (For Presentation) when the modality is DX.
void write_radiograph(const std::filesystem::path& file, const RadiographSpec& spec);

// A bundled FracAtlas radiograph (samples/fracatlas/images), grayscale, scaled down to `width`.
cv::Mat fracatlas_pixels(const std::string& name, int width = 384);

// The lines of dciodvfy's report on `file` that are errors ("Error - ..."); empty when it passes.
std::vector<std::string> dciodvfy_errors(const std::filesystem::path& file);
// What dciodvfy said about `file` (for a test's failure message).
std::string dciodvfy_report(const std::filesystem::path& file);
std::string dcmdump(const std::filesystem::path& file);
// dsrdump's rendering of an SR's content tree, long values in full: `<contains CODE:(,,"Finding")=
// (17621005,SCT,"Normal")>`.
std::string dsrdump(const std::filesystem::path& file);

// A whole run through a streaming writer as the host drives it: open, every image, each study
// after its images, close.
void write_run(Writer& writer, std::span<const ImagePrediction> images, std::span<const StudyPrediction> studies,
               const std::filesystem::path& out_dir);
inline void write_run(Writer&& writer, std::span<const ImagePrediction> images, std::span<const StudyPrediction> studies,
                      const std::filesystem::path& out_dir) {
  write_run(writer, images, studies, out_dir);
}

} // namespace radpipe::dicom_results::testing
