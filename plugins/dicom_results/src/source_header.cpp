#include "source_header.hpp"

#include <dcmtk/config/osconfig.h> // first, as DCMTK requires
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/oflog/oflog.h>

#include <mutex>

namespace radpipe::dicom_results {
namespace {

// DCMTK logs its own view of every problem to stderr ("W: DcmItem: Element PixelData encountered,
// skipping rest of dataset" for each header read); radpipe reports the problems that matter itself.
void quiet_dcmtk() {
  static std::once_flag once;
  std::call_once(once, [] { OFLog::getLogger("dcmtk").setLogLevel(OFLogger::FATAL_LOG_LEVEL); });
}

std::shared_ptr<DcmDataset> take_dataset(DcmFileFormat& file) {
  return std::shared_ptr<DcmDataset>(file.getAndRemoveDataset());
}

} // namespace

SourceHeader::SourceHeader(std::shared_ptr<DcmDataset> dataset, const std::string& what)
    : dataset_(std::move(dataset)) {
  if (!dataset_) throw DicomResultError(what + " holds no DICOM dataset");
  for (const auto& [tag, name] :
       {std::pair{DCM_StudyInstanceUID, "StudyInstanceUID"}, std::pair{DCM_SOPInstanceUID, "SOPInstanceUID"},
        std::pair{DCM_SOPClassUID, "SOPClassUID"}})
    if (text(tag).empty())
      throw DicomResultError(what + " has no " + name + ", so results cannot refer to it");
}

SourceHeader SourceHeader::read_file(const std::filesystem::path& file) {
  quiet_dcmtk();
  DcmFileFormat format;
  const OFCondition status = format.loadFileUntilTag(file.c_str(), EXS_Unknown, EGL_noChange,
                                                     DCM_MaxReadLength, ERM_autoDetect, DCM_PixelData);
  if (status.bad())
    throw DicomResultError("cannot read the DICOM header of " + file.string() + ": " + status.text());
  return SourceHeader(take_dataset(format), file.string());
}

SourceHeader SourceHeader::read_bytes(std::string_view bytes, const std::string& what) {
  quiet_dcmtk();
  DcmInputBufferStream stream;
  stream.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  stream.setEos();
  DcmFileFormat format;
  format.transferInit();
  const OFCondition status =
      format.readUntilTag(stream, EXS_Unknown, EGL_noChange, DCM_MaxReadLength, DCM_PixelData);
  format.transferEnd();
  if (status.bad()) throw DicomResultError("cannot read the DICOM header of " + what + ": " + status.text());
  return SourceHeader(take_dataset(format), what);
}

std::string SourceHeader::text(const DcmTagKey& tag) const {
  OFString value;
  if (dataset_->findAndGetOFStringArray(tag, value).bad()) return "";
  std::string result(value.c_str());
  while (!result.empty() && (result.back() == ' ' || result.back() == '\0')) result.pop_back();
  return result;
}

std::string SourceHeader::study_uid() const {
  return text(DCM_StudyInstanceUID);
}
std::string SourceHeader::sop_instance_uid() const {
  return text(DCM_SOPInstanceUID);
}

} // namespace radpipe::dicom_results
