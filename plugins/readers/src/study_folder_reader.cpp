#include "study_folder_reader.hpp"

#include <radpipe/error.hpp>

#include "image_listing.hpp"
#include "text.hpp"

namespace radpipe::readers {

Schema StudyFolderReader::schema() {
  return Schema{
      ParamSpec::path("folder", "Folder holding the images of one study").existing(),
      ParamSpec::string("study_id", "The study's id in the outputs (default: the folder's name)").optional(),
      ParamSpec::string("patient_id", "The patient's id in the outputs").optional(),
      ParamSpec::string("body_part", "Body part of the study (hand, wrist, elbow, ...)").optional(),
      extensions_param(),
      ParamSpec::boolean("recursive", "Also read images in subfolders").with_default(ParamValue{false}),
      max_pixels_param(),
  };
}

StudyFolderReader::StudyFolderReader(const Params& params, const StageContext& context)
    : folder_(params.path("folder")) {
  max_pixels_ = static_cast<std::uint64_t>(params.integer("max_pixels"));
  if (!is_folder(folder_))
    throw StageError("folder",
                     folder_.string() + " is not a folder; point folder at the folder of the study's images");
  study_id_ =
      params.has("study_id") ? params.string("study_id") : folder_.lexically_normal().filename().string();
  if (study_id_.empty())
    study_id_ = folder_.lexically_normal().parent_path().filename().string(); // "x/" form
  if (trim(study_id_).empty()) throw StageError("study_id", "the study id is empty; give the study a name");
  if (params.has("patient_id")) patient_id_ = params.string("patient_id");
  if (params.has("body_part")) body_part_ = to_lower(trim(params.string("body_part")));

  const auto extensions = normalised_extensions(params.strings("extensions"), "extensions");
  files_ = list_image_files(folder_, extensions, params.boolean("recursive"), "folder");
  require_unique_ids(files_, folder_, "folder");
  if (files_.empty())
    throw StageError(
        "folder", "no files ending in " + join(extensions, ", ") + " in " + folder_.string() +
                      (params.boolean("recursive") ? "" : " (subfolders not searched: recursive = false)") +
                      "; check folder and extensions");
  context.debug("study_folder: study \"" + study_id_ + "\" has " + std::to_string(files_.size()) + " images");
}

std::optional<SampleInfo> StudyFolderReader::next() {
  if (cursor_ >= files_.size()) return std::nullopt;
  const auto& relative = files_[cursor_];
  SampleInfo info;
  info.id = study_id_ + "/" + id_without_extension(relative);
  info.path = (folder_ / relative).string();
  info.study_id = study_id_;
  info.patient_id = patient_id_;
  info.body_part = body_part_;
  info.index = cursor_++;
  return info;
}

} // namespace radpipe::readers
