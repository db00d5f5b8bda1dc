// A DICOM object radpipe made (a structured report, a secondary capture), ready to be saved as a
// Part 10 file or sent to a PACS.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

class DcmFileFormat;
class DcmDataset;

namespace radpipe::dicom_results {

class DicomObject {
 public:
  explicit DicomObject(std::unique_ptr<DcmFileFormat> file);
  ~DicomObject();
  DicomObject(DicomObject&&) noexcept;
  DicomObject& operator=(DicomObject&&) noexcept;

  std::string sop_class_uid() const;
  std::string sop_instance_uid() const;
  std::string series_instance_uid() const;
  std::string study_instance_uid() const;

  // The Part 10 file (preamble, meta header, dataset in explicit VR little endian).
  std::string bytes() const;
  // Writes bytes() to `file` atomically (a temporary file beside it, then a rename), so that a
  // reader never sees half an object. Throws DicomResultError naming the file.
  void save(const std::filesystem::path& file) const;

  DcmDataset& dataset() const;

 private:
  std::string attribute(unsigned short group, unsigned short element) const;
  std::unique_ptr<DcmFileFormat> file_;
};

} // namespace radpipe::dicom_results
