#include "structured_report.hpp"

#include <dcmtk/config/osconfig.h> // first, as DCMTK requires
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmsr/cmr/cid4031e.h>
#include <dcmtk/dcmsr/cmr/init.h>
#include <dcmtk/dcmsr/cmr/tid1500.h>
#include <dcmtk/dcmsr/codes/dcm.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <algorithm>
#include <cctype>
#include <mutex>
#include <optional>
#include <radpipe/version.hpp>

#include "result_attributes.hpp"

namespace radpipe::dicom_results {
namespace {

using MeasurementValue = TID1500_MeasurementReport::TID1501_Measurements::MeasurementValue;

const DSRCodedEntryValue radiography_procedure("363680008", "SCT", "Radiographic imaging procedure");
const DSRCodedEntryValue abnormal_code("263654008", "SCT", "Abnormal");
const DSRCodedEntryValue normal_code("17621005", "SCT", "Normal");
const DSRCodedEntryValue finding_site_code("363698007", "SCT", "Finding Site");
const DSRCodedEntryValue no_units("1", "UCUM", "no units");

const DSRCodedEntryValue& verdict_code(bool abnormal) {
  return abnormal ? abnormal_code : normal_code;
}

std::string upper(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return text;
}

// The coded anatomic region (CID 4031) of the source's BodyPartExamined, else of radpipe's body
// part read as a BodyPartExamined term ("hand" is HAND).
std::optional<DSRCodedEntryValue> coded_site(const StudyFindings& findings) {
  for (const std::string& term :
       {findings.images.front().source.text(DCM_BodyPartExamined), upper(findings.body_part)}) {
    if (term.empty()) continue;
    DSRCodedEntryValue code = CMR_CID4031e::mapBodyPartExamined(term.c_str());
    if (!code.isEmpty()) return code;
  }
  return std::nullopt;
}

MeasurementValue unitless(double value) {
  return MeasurementValue(decimal_text(value, 4).c_str(), no_units, OFFalse);
}

template <class Group>
void add_verdict(Group& group, bool abnormal, const std::optional<DSRCodedEntryValue>& site,
                 const std::string& body_part) {
  check(group.setFinding(verdict_code(abnormal)), "the finding");
  if (site) {
    check(group.addFindingSite(*site), "the finding site");
  } else if (!body_part.empty()) {
    check(group.addQualitativeEvaluation(finding_site_code, printable_ascii(body_part).c_str(), OFFalse),
          "the finding site");
  }
}

void initialise_context_groups() {
  static std::once_flag once;
  std::call_once(once, [] { CMR_ContentMappingResource::initializeAllContextGroups(); });
}

} // namespace

DicomObject make_findings_report(const StudyFindings& findings, const ResultSeriesOptions& options) {
  initialise_context_groups();
  const std::string study_uid = findings.study_uid();
  for (const auto& image : findings.images)
    if (image.source.study_uid() != study_uid)
      throw DicomResultError("image " + image.source.sop_instance_uid() + " belongs to study " +
                             image.source.study_uid() + ", not to " + study_uid);
  const ModelIdentity& model = findings.model;
  const ResultUids uids = ResultUids::of(options.uid_root, study_uid, model.checkpoint_sha256);
  const std::optional<DSRCodedEntryValue> site = coded_site(findings);

  TID1500_MeasurementReport report(CMR_CID7021::ImagingMeasurementReport);
  check(report.setLanguage(CID5000_Languages::English), "the language");
  check(report.getObservationContext().addDeviceObserver(
            uids.device_observer.c_str(), printable_ascii(model.name).c_str(), "radpipe",
            printable_ascii(model.name + " " + model.version).c_str(), model.checkpoint_sha256.c_str()),
        "the device observer");
  check(report.addProcedureReported(radiography_procedure, OFFalse), "the procedure reported");

  TID1600_ImageLibrary& library = report.getImageLibrary();
  check(library.createNewImageLibrary(), "the image library");
  check(library.addImageGroup(), "the image library group");
  for (const auto& image : findings.images) {
    // The descriptors (modality, region, view) need a modality DCMTK can code; without one the
    // entry is the bare reference.
    if (library.addImageEntry(image.source.dataset(), TID1600_ImageLibrary::withAllDescriptors).bad())
      check(library.addImageEntry(image.source.dataset(), TID1600_ImageLibrary::withoutDescriptors),
            "the image library entry of " + image.source.sop_instance_uid());
  }

  auto& study = report.getIndividualMeasurements();
  check(study.setTrackingIdentifier("radpipe study verdict"), "the tracking identifier");
  check(study.setTrackingUniqueIdentifier(uids.study_tracking.c_str()), "the tracking UID");
  add_verdict(study, findings.abnormal(), site, findings.body_part);
  check(study.addMeasurement(DSRCodedEntryValue(CODE_DCM_Probability), unitless(findings.probability), OFTrue,
                             OFFalse),
        "the study probability");
  check(study.addMeasurement(DSRCodedEntryValue(CODE_DCM_CADOperatingPoint), unitless(findings.threshold),
                             OFTrue, OFFalse),
        "the operating point");
  check(study.addQualitativeEvaluation(CODE_DCM_AlgorithmName, printable_ascii(model.name).c_str(), OFFalse),
        "the algorithm name");
  check(study.addQualitativeEvaluation(CODE_DCM_AlgorithmVersion, printable_ascii(model.version).c_str(),
                                       OFFalse),
        "the algorithm version");
  check(study.addQualitativeEvaluation(CODE_DCM_AlgorithmParameters,
                                       ("chain: " + printable_ascii(findings.chain)).c_str(), OFFalse),
        "the chain");
  check(study.addQualitativeEvaluation(CODE_DCM_AlgorithmParameters,
                                       ("checkpoint SHA-256: " + model.checkpoint_sha256).c_str(), OFFalse),
        "the checkpoint hash");

  for (std::size_t index = 0; index < findings.images.size(); ++index) {
    const ImageFinding& image = findings.images[index];
    check(report.addIndividualMeasurements(), "a measurement group");
    auto& group = report.getIndividualMeasurements();
    check(group.setTrackingIdentifier(("radpipe image " + std::to_string(index + 1)).c_str()),
          "the tracking identifier");
    check(group.setTrackingUniqueIdentifier(ResultUids::image_tracking(options.uid_root, study_uid,
                                                                       model.checkpoint_sha256,
                                                                       image.source.sop_instance_uid())
                                                .c_str()),
          "the tracking UID");
    add_verdict(group, image.probability >= findings.threshold, site, findings.body_part);
    check(group.addMeasurement(DSRCodedEntryValue(CODE_DCM_Probability), unitless(image.probability), OFTrue,
                               OFFalse),
          "the image probability");
    check(group.getMeasurement().addImage(CODE_DCM_SourceOfMeasurement, image.source.dataset()),
          "the reference to " + image.source.sop_instance_uid());
  }

  DSRDocument document(DSRTypes::DT_ComprehensiveSR);
  check(document.setTreeFromRootTemplate(report, OFTrue /*expandTree*/), "the TID 1500 content tree");
  // DCMTK picks the smallest IOD the tree fits (Enhanced SR); Comprehensive SR holds it too, and is
  // what PACS and viewers expect of a report with image references and measurements.
  check(document.changeDocumentType(DSRTypes::DT_ComprehensiveSR), "the document type Comprehensive SR");
  for (const auto& image : findings.images)
    check(document.getCurrentRequestedProcedureEvidence().addItem(image.source.dataset()),
          "the evidence reference to " + image.source.sop_instance_uid());
  check(document.setSeriesDescription("radpipe findings - NOT FOR DIAGNOSTIC USE"), "the series description");
  check(document.setManufacturer("radpipe"), "the manufacturer");
  check(document.setManufacturerModelName(printable_ascii(model.name).c_str()), "the model name");
  check(document.setSoftwareVersions("radpipe " RADPIPE_SDK_VERSION_STRING), "the software versions");
  check(document.setSeriesNumber(std::to_string(options.report_series_number).c_str()), "the series number");
  check(document.setInstanceNumber("1"), "the instance number");
  document.completeDocument();

  auto file = std::make_unique<DcmFileFormat>();
  DcmDataset& dataset = *file->getDataset();
  check(document.write(dataset), "the report's dataset");
  copy_patient_and_study(findings.images.front().source, dataset);
  put(dataset, DCM_SeriesInstanceUID, uids.report_series);
  put(dataset, DCM_SOPInstanceUID, uids.report_instance);
  put(dataset, DCM_StationName, options.station_name);
  return DicomObject(std::move(file));
}

} // namespace radpipe::dicom_results
