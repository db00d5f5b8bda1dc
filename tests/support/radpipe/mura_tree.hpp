// Generated MURA-v1.1 trees for the tests of the `mura` reader and of `radpipe split`. MURA may
// not be redistributed, so tests write their own: the layout and CSV files of MURA-v1.1, with
// small PNG images the test writes.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace radpipe::testing {

struct MuraStudy {
  std::string split;     // "train" or "valid"
  std::string body_part; // "XR_WRIST"
  std::string patient;   // "00001": the folder is patient00001
  int number = 1;        // the folder is study<number>_<positive|negative>
  bool positive = false;
  int images = 1; // image1.png ... image<images>.png

  // "MURA-v1.1/train/XR_WRIST/patient00001/study1_positive/", as MURA's CSVs write it.
  std::string folder() const;
};

// A deterministic set of studies with patients who have several studies: `patients` patients
// (ids 00001, 00002, ...), patient p in body part p % 3 (XR_WRIST, XR_ELBOW, XR_HAND) with
// 1 + p % 3 studies; study s of patient p is positive when (p + s) % 2 == 1 and holds
// 1 + (p + s) % 3 images; patients 1..train_patients are in train, the rest in valid.
std::vector<MuraStudy> generated_mura_studies(int patients, int train_patients);

// Writes `root` (the MURA-v1.1 folder): every study's folder with 8x8 gray PNG images (image k
// filled with the value 10 * k) and MURA's four CSV files, which have no header row.
void write_mura_tree(const std::filesystem::path& root, const std::vector<MuraStudy>& studies);

} // namespace radpipe::testing
