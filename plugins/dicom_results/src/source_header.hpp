// The header of a source radiograph (everything before its pixel data), read with DCMTK: the
// patient, study, series and instance attributes that result objects copy and reference.
#pragma once

#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

class DcmDataset;
class DcmTagKey;

namespace radpipe::dicom_results {

// A result object cannot be made: the source is not DICOM, lacks an identifier, DCMTK refused.
class DicomResultError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class SourceHeader {
 public:
  // Reads up to the pixel data of a DICOM file (Part 10, or a bare dataset).
  static SourceHeader read_file(const std::filesystem::path& file);
  // The same from a DICOM file held in memory (a WADO-RS answer, say).
  static SourceHeader read_bytes(std::string_view bytes, const std::string& what);

  // The value of a string attribute as stored (all values, backslash-separated, trailing spaces
  // removed); empty when absent.
  std::string text(const DcmTagKey& tag) const;
  std::string study_uid() const;
  std::string sop_instance_uid() const;

  // The dataset, shared by copies of this header; result makers only read from it (DCMTK's
  // readers are not const, hence the non-const reference).
  DcmDataset& dataset() const { return *dataset_; }

 private:
  explicit SourceHeader(std::shared_ptr<DcmDataset> dataset, const std::string& what);
  std::shared_ptr<DcmDataset> dataset_;
};

} // namespace radpipe::dicom_results
