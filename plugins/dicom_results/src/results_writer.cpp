#include "results_writer.hpp"

#include <radpipe/error.hpp>

namespace radpipe::dicom_results {

Schema DicomResultsWriter::schema() {
  Schema schema{ParamSpec::string("folder", "Folder under the run's output folder that receives the objects")
                    .with_default("dicom")};
  for (auto& spec : ResultSettings::schema_specs()) schema.add(std::move(spec));
  return schema;
}

DicomResultsWriter::DicomResultsWriter(const Params& params, const StageContext& context)
    : DicomResultsWriter(params, context, IsolatedDecoder::installed_program()) {}

DicomResultsWriter::DicomResultsWriter(const Params& params, const StageContext& context,
                                       std::filesystem::path decoder)
    : context_(context), builder_(ResultSettings::from(params)), folder_(params.string("folder")) {
  const std::filesystem::path folder(folder_);
  if (folder_.empty() || folder.is_absolute() || folder.lexically_normal().string().starts_with(".."))
    throw StageError("folder", "write a folder inside the run's output folder, such as \"dicom\"");
  try {
    sources_.emplace(IsolatedDecoder(std::move(decoder), builder_.settings().window,
                                     builder_.settings().decoder_time_limit));
  } catch (const DecodeFailure& failure) {
    throw StageError(failure.what());
  }
}

void DicomResultsWriter::open(const WriterRun& run) {
  out_dir_ = run.out_dir;
  objects_written_ = studies_failed_ = 0;
  first_failure_.clear();
}

void DicomResultsWriter::write_study(const StudyPrediction& prediction) {
  const std::vector<ImagePrediction> images = open_studies_.take(prediction.study_id);
  if (images.empty()) return;
  try {
    const std::vector<DicomObject> objects = builder_.build(study_images(prediction, images), *sources_);
    const std::filesystem::path folder = out_dir_ / folder_ / objects.front().study_instance_uid();
    std::filesystem::create_directories(folder);
    for (const auto& object : objects) object.save(folder / (object.sop_instance_uid() + ".dcm"));
    objects_written_ += objects.size();
  } catch (const StageError&) {
    throw;
  } catch (const std::exception& error) {
    // One study's sources failing (a file gone, a decoder refusing it) costs that study only.
    const std::string failure = "study " + prediction.study_id + ": " + error.what();
    if (studies_failed_++ == 0) first_failure_ = failure;
    context_.warn("dicom_results: no DICOM results for " + failure);
  }
}

void DicomResultsWriter::close() {
  if (out_dir_.empty()) return; // closed already (the host closes again after a failure)
  const std::filesystem::path written = out_dir_ / folder_;
  out_dir_.clear();
  context_.info("dicom_results: " + std::to_string(objects_written_) + " DICOM objects under " + written.string());
  if (studies_failed_ > 0)
    throw StageError(std::to_string(studies_failed_) + " studies have no DICOM results; the first: " + first_failure_);
}

} // namespace radpipe::dicom_results
