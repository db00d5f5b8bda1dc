// The orthanc plugin: a PACS (Orthanc, or any DICOMweb server) as a source of radiographs and as
// the place their results go.
#include <radpipe/plugin.hpp>

#include "orthanc_reader.hpp"
#include "orthanc_writer.hpp"

namespace {

void register_stages(radpipe::PluginRegistrar& registrar) {
  registrar.add<radpipe::orthanc::OrthancReader>("orthanc",
                                                 "Radiographs from a PACS over DICOMweb: QIDO-RS by study "
                                                 "date, modality and body part, WADO-RS into memory, "
                                                 "decoded in the dicom plugin's crash-isolated decoder",
                                                 radpipe::orthanc::OrthancReader::schema());
  registrar.add<radpipe::orthanc::OrthancWriter>(
      "orthanc",
      "Each study's findings (Comprehensive SR, Secondary Captures) stored into the same study with STOW-RS, "
      "once, with a record of the studies done",
      radpipe::orthanc::OrthancWriter::schema());
}

} // namespace

RADPIPE_PLUGIN("orthanc", "0.1.0",
               "PACS reader and writer over DICOMweb (Orthanc): QIDO-RS, WADO-RS, STOW-RS", register_stages)
