#include "pacs_data.hpp"

#include "dicom_tools.hpp"

namespace radpipe::orthanc::testing {

namespace fs = std::filesystem;
using dicom_results::testing::RadiographSpec;

PacsData::PacsData(const fs::path& folder, bool with_shared) {
  struct Generated {
    const char* image;
    const char* study;
    const char* modality;
    const char* body_part;
    const char* date;
    const char* patient;
  };
  const Generated generated[] = {
      {"IMG0000015.jpg", hand_study, "CR", "HAND", "20240105", "RP-A"},
      {"IMG0000188.jpg", hand_study, "CR", "HAND", "20240105", "RP-A"},
      {"IMG0000035.jpg", wrist_study, "DX", "WRIST", "20240110", "RP-B"},
      {"IMG0000351.jpg", chest_study, "CR", "CHEST", "20240201", "RP-C"},
  };
  fs::create_directories(folder);
  int number = 0;
  for (const auto& item : generated) {
    ++number;
    RadiographSpec spec;
    spec.pixels = dicom_results::testing::fracatlas_pixels(item.image, 256);
    spec.study_uid = item.study;
    spec.series_uid = std::string(item.study) + ".1";
    spec.sop_uid = spec.series_uid + "." + std::to_string(number);
    spec.modality = item.modality;
    spec.body_part = item.body_part;
    spec.study_date = item.date;
    spec.patient_id = item.patient;
    spec.accession = "ACC" + std::to_string(number);
    spec.instance_number = number;
    files.push_back(folder / (std::to_string(number) + ".dcm"));
    dicom_results::testing::write_radiograph(files.back(), spec);
  }
  if (!with_shared) return;
  const fs::path shared = fs::path(RADPIPE_SHARED_DIR) / "data/dicom";
  for (const char* name : {"RG3_J2KR.dcm", "RG3_J2KI.dcm", "RG1_J2KI.dcm"}) files.push_back(shared / name);
}

void PacsData::upload_to(const OrthancServer& server) const {
  for (const auto& file : files) server.upload(file);
}

} // namespace radpipe::orthanc::testing
