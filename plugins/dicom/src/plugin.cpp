// The `dicom` plugin: DICOM radiographs, decoded with GDCM in a helper process.
#include <radpipe/plugin.hpp>

#include "dicom_magic.hpp"
#include "dicom_reader.hpp"

namespace {
void register_dicom(radpipe::PluginRegistrar& registrar) {
  registrar
      .add<radpipe::dicom::DicomReader>("dicom", "DICOM radiographs from a file or folder tree, grouped into studies by StudyInstanceUID",
                                        radpipe::dicom::DicomReader::schema())
      .files = radpipe::FileSupport{[](const std::filesystem::path& file) { return radpipe::dicom::is_dicom_file(file); }, "path"};
}
} // namespace

RADPIPE_PLUGIN("dicom", "0.1.0", "DICOM reader (GDCM, crash-isolated decoding)", register_dicom)
