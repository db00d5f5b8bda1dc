// Attributes every result object shares: the patient and study copied from the source, the
// moment it was made, and DCMTK status checks that say what failed.
#pragma once

#include <dcmtk/config/osconfig.h> // first, as DCMTK requires
#include <dcmtk/dcmdata/dcdatset.h>
#include <dcmtk/dcmdata/dcitem.h>
#include <dcmtk/ofstd/ofcond.h>

#include <string>

#include "source_header.hpp"

namespace radpipe::dicom_results {

// Throws DicomResultError("cannot set WHAT: DCMTK's reason") when `status` is bad.
void check(const OFCondition& status, const std::string& what);

// Puts a string attribute, replacing any value it had.
void put(DcmItem& item, const DcmTagKey& tag, const std::string& value);

// Copies the Patient and General Study modules' identifying attributes, and the character set
// they are written in, from `source` as stored; attributes the source lacks are written empty
// where DICOM requires them (type 2), left out otherwise.
void copy_patient_and_study(const SourceHeader& source, DcmItem& target);

// Today and now in DICOM DA and TM form, local time.
struct Timestamp {
  std::string date; // YYYYMMDD
  std::string time; // HHMMSS
  static Timestamp now();
};

} // namespace radpipe::dicom_results
