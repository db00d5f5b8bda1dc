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

void DicomResultsWriter::write(std::span<const ImagePrediction> images,
                               std::span<const StudyPrediction> studies,
                               const std::filesystem::path& out_dir) {
  std::size_t written = 0;
  std::vector<std::string> failures;
  for (const StudyImages& study : group_by_study(images, studies)) {
    try {
      const std::vector<DicomObject> objects = builder_.build(study, *sources_);
      const std::filesystem::path folder = out_dir / folder_ / objects.front().study_instance_uid();
      std::filesystem::create_directories(folder);
      for (const auto& object : objects) object.save(folder / (object.sop_instance_uid() + ".dcm"));
      written += objects.size();
    } catch (const StageError&) {
      throw;
    } catch (const std::exception& error) {
      failures.push_back("study " + study.study->study_id + ": " + error.what());
      context_.warn("dicom_results: no DICOM results for " + failures.back());
    }
  }
  context_.info("dicom_results: " + std::to_string(written) + " DICOM objects under " +
                (out_dir / folder_).string());
  if (!failures.empty())
    throw StageError(std::to_string(failures.size()) +
                     " studies have no DICOM results; the first: " + failures.front());
}

} // namespace radpipe::dicom_results
