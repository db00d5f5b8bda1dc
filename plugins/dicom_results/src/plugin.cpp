// The dicom_results plugin: a run's findings as DICOM objects (Comprehensive SR, Secondary
// Capture) for a PACS.
#include <radpipe/plugin.hpp>

#include "results_writer.hpp"

namespace {

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<radpipe::dicom_results::DicomResultsWriter>(
      "dicom_results",
      "Each study's findings as DICOM files: a Comprehensive SR (TID 1500) and Secondary Captures with the "
      "verdict burned in, in the source's study",
      radpipe::dicom_results::DicomResultsWriter::schema());
}

} // namespace

RADPIPE_PLUGIN("dicom_results", "0.1.0",
               "Findings as DICOM objects: Comprehensive SR and Secondary Capture (DCMTK)", register_stages)
