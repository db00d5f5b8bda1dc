#include "result_attributes.hpp"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcelem.h>

#include <ctime>

namespace radpipe::dicom_results {

void check(const OFCondition& status, const std::string& what) {
  if (status.bad()) throw DicomResultError("cannot set " + what + ": " + status.text());
}

void put(DcmItem& item, const DcmTagKey& tag, const std::string& value) {
  check(item.putAndInsertString(tag, value.c_str(), OFTrue), DcmTag(tag).getTagName());
}

void copy_patient_and_study(const SourceHeader& source, DcmItem& target) {
  struct Copied {
    DcmTagKey tag;
    bool required; // type 1 or 2: written empty when the source lacks it
  };
  static const Copied copied[] = {
      {DCM_SpecificCharacterSet, false},
      {DCM_PatientName, true},
      {DCM_PatientID, true},
      {DCM_IssuerOfPatientID, false},
      {DCM_PatientBirthDate, true},
      {DCM_PatientSex, true},
      {DCM_StudyInstanceUID, true},
      {DCM_StudyDate, true},
      {DCM_StudyTime, true},
      {DCM_ReferringPhysicianName, true},
      {DCM_StudyID, true},
      {DCM_AccessionNumber, true},
      {DCM_IssuerOfAccessionNumberSequence, false},
      {DCM_StudyDescription, false},
  };
  DcmDataset& from = source.dataset();
  for (const auto& [tag, required] : copied) {
    DcmElement* element = nullptr;
    if (from.findAndGetElement(tag, element).good() && element != nullptr) {
      check(target.insert(OFstatic_cast(DcmElement*, element->clone()), OFTrue), DcmTag(tag).getTagName());
    } else if (required) {
      check(target.insertEmptyElement(tag, OFTrue), DcmTag(tag).getTagName());
    } else {
      target.findAndDeleteElement(tag);
    }
  }
}

Timestamp Timestamp::now() {
  const std::time_t seconds = std::time(nullptr);
  std::tm local{};
  ::localtime_r(&seconds, &local);
  char date[16], time[16];
  std::strftime(date, sizeof date, "%Y%m%d", &local);
  std::strftime(time, sizeof time, "%H%M%S", &local);
  return Timestamp{date, time};
}

} // namespace radpipe::dicom_results
