// The study's findings as a Comprehensive SR that follows DICOM PS3.16 TID 1500 (Measurement
// Report), built with DCMTK's implementation of that template:
//
//   Imaging Measurement Report (126000, DCM)
//     Language: English; observer: the model as a device (TID 1004: UID from the checkpoint hash,
//       name, manufacturer "radpipe", model name and version, serial number = checkpoint hash)
//     Procedure reported: Radiographic imaging procedure (363680008, SCT)
//     Image Library (TID 1600): every scored source image, with its modality, region and view
//     Imaging Measurements
//       Measurement Group "study verdict" (TID 1501): tracking id and UID, Finding = Abnormal
//         (263654008, SCT) or Normal (17621005, SCT), Finding Site (CID 4031, from
//         BodyPartExamined), Probability (122157, DCM) and CAD Operating Point (111071, DCM) in
//         UCUM "1", Algorithm Name (111001), Algorithm Version (111003) and Algorithm Parameters
//         (111002: the chain, the checkpoint's SHA-256)
//       One Measurement Group per image: its finding and probability, the image referenced as
//         Source of Measurement (121112, DCM)
//
// Patient and study attributes (and the character set) are copied from the first source image;
// the Current Requested Procedure Evidence Sequence lists every source image. The series and
// instance UIDs are ResultUids, so that a resend replaces the report.
#pragma once

#include "dicom_object.hpp"
#include "findings.hpp"

namespace radpipe::dicom_results {

DicomObject make_findings_report(const StudyFindings& findings, const ResultSeriesOptions& options);

} // namespace radpipe::dicom_results
