// Writer stage `dicom_results`: each study's results as DICOM files, `FOLDER/<StudyInstanceUID>/
// <SOPInstanceUID>.dcm` under the run's output folder: a Comprehensive SR (TID 1500) with the
// verdict and a Secondary Capture per image with the verdict burned in. The sources must be DICOM
// files (the `dicom` reader's); patient and study identifiers are copied from them.
//
// A study's objects are written when the host sends the study (after its last image). Their UIDs
// derive from the UID root, the study and the checkpoint, so that `predict --resume` writing a
// study again replaces its files instead of doubling them. The objects are whole files, not lines:
// commit() has no line files to report.
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

  void open(const WriterRun& run) override;
  void write_image(const ImagePrediction& image) override { open_studies_.add(image); }
  void write_study(const StudyPrediction& study) override;
  std::vector<CommittedFile> commit() override { return {}; }
  void close() override;
  bool wants_heatmaps() const override { return builder_.settings().wants_heatmaps(); }

 private:
  StageContext context_;
  ResultBuilder builder_;
  std::string folder_;
  std::optional<FileSources> sources_;
  std::filesystem::path out_dir_;
  OpenStudies open_studies_;
  std::size_t objects_written_ = 0;
  std::size_t studies_failed_ = 0;
  std::string first_failure_;
};

} // namespace radpipe::dicom_results
