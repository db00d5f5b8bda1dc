// Writer stage `dicom_results`: each study's results as DICOM files, `FOLDER/<StudyInstanceUID>/
// <SOPInstanceUID>.dcm` under the run's output folder: a Comprehensive SR (TID 1500) with the
// verdict and a Secondary Capture per image with the verdict burned in. The sources must be DICOM
// files (the `dicom` reader's); patient and study identifiers are copied from them.
//
// Written against the SDK's end-of-run Writer interface; the work per study is ResultBuilder's,
// so that a streaming writer interface needs only a new `write` around it.
#pragma once

#include <optional>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>

#include "result_builder.hpp"

namespace radpipe::dicom_results {

class DicomResultsWriter final : public Writer {
 public:
  DicomResultsWriter(const Params& params, const StageContext& context);
  // The same with the decoder program named explicitly (tests run it from the build tree).
  DicomResultsWriter(const Params& params, const StageContext& context, std::filesystem::path decoder);
  static Schema schema();

  void write(std::span<const ImagePrediction> images, std::span<const StudyPrediction> studies,
             const std::filesystem::path& out_dir) override;

 private:
  StageContext context_;
  ResultBuilder builder_;
  std::string folder_;
  std::optional<FileSources> sources_;
};

} // namespace radpipe::dicom_results
