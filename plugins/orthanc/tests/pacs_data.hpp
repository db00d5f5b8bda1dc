// The archive the orthanc tests put into their Orthanc: radiographs generated from bundled
// FracAtlas images (three studies of different dates, modalities and body parts) and the shared
// real DICOMs (pydicom's CR samples).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "orthanc_server.hpp"

namespace radpipe::orthanc::testing {

struct PacsData {
  static constexpr const char* hand_study = "1.2.826.0.1.3680043.10.543.101";  // 2 CR HAND, 20240105
  static constexpr const char* wrist_study = "1.2.826.0.1.3680043.10.543.102"; // 1 DX WRIST, 20240110
  static constexpr const char* chest_study = "1.2.826.0.1.3680043.10.543.103"; // 1 CR CHEST, 20240201
  static constexpr const char* rg3_study = "1.3.6.1.4.1.5962.1.2.11.20040826185059.5457"; // 2 CR EXTREMITY
  static constexpr const char* rg1_study = "1.3.6.1.4.1.5962.1.2.9.20040826185059.5457";  // 1 CR CHEST

  std::vector<std::filesystem::path> files;

  // Writes the generated files under `folder` and lists them, with the shared ones unless
  // `with_shared` is false (their JPEG 2000 decoding costs a second per image).
  explicit PacsData(const std::filesystem::path& folder, bool with_shared = true);
  void upload_to(const OrthancServer& server) const;
};

} // namespace radpipe::orthanc::testing
