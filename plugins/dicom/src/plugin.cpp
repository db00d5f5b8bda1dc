// The `dicom` plugin: DICOM radiographs, decoded with GDCM in a helper process.
#include <radpipe/plugin.hpp>

#include "dicom_reader.hpp"

namespace {
void register_dicom(radpipe::PluginRegistrar& registrar) {
  registrar.add<radpipe::dicom::DicomReader>(
      "dicom", "DICOM radiographs from a file or folder tree, grouped into studies by StudyInstanceUID",
      radpipe::dicom::DicomReader::schema());
}
} // namespace

RADPIPE_PLUGIN("dicom", "0.1.0", "DICOM reader (GDCM, crash-isolated decoding)", register_dicom)
