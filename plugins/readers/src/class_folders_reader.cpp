#include "class_folders_reader.hpp"

#include <algorithm>
#include <radpipe/error.hpp>
#include <system_error>

#include "image_listing.hpp"
#include "text.hpp"

namespace radpipe::readers {
Schema ClassFoldersReader::schema() {
  return Schema{
      ParamSpec::path("root", "Folder with one subfolder of images per class").existing(),
      ParamSpec::strings(
          "classes", "Class folders in label order (label 0 first); [] takes every subfolder, sorted by name")
          .with_default(std::vector<std::string>{}),
      ParamSpec::string(
          "positive_class",
          "For binary tasks: this class is label 1 and every other class label 0 (default: labels "
          "are class positions)")
          .optional(),
      extensions_param(),
      ParamSpec::boolean("recursive", "Also read images in subfolders of each class folder")
          .with_default(ParamValue{true}),
      ParamSpec::string("body_part", "Body part given to every image (hand, wrist, elbow, ...)").optional(),
      max_pixels_param(),
  };
}

ClassFoldersReader::ClassFoldersReader(const Params& params, const StageContext& context)
    : root_(params.path("root")) {
  max_pixels_ = static_cast<std::uint64_t>(params.integer("max_pixels"));
  if (!is_folder(root_))
    throw StageError(
        "root", root_.string() + " is not a folder; point root at the folder holding one folder per class");
  if (params.has("body_part")) body_part_ = to_lower(trim(params.string("body_part")));

  std::vector<std::string> found;
  for (const auto& entry : sorted_entries(root_, "root")) {
    if (is_folder(entry))
      found.push_back(entry.filename().string());
    else
      context.debug("class_folders: " + entry.string() + " is not a folder, so not a class");
  }
  classes_ = params.strings("classes");
  if (classes_.empty()) {
    classes_ = found;
    if (classes_.empty())
      throw StageError("root", root_.string() +
                                   " holds no class folders; put each class's images in a folder of "
                                   "its own under root");
  }
  for (std::size_t i = 0; i < classes_.size(); ++i) {
    if (std::find(found.begin(), found.end(), classes_[i]) == found.end())
      throw StageError("classes", "there is no folder \"" + classes_[i] + "\" under " + root_.string() +
                                      "; the class folders there are " + quoted_list(found));
    if (std::find(classes_.begin(), classes_.begin() + static_cast<std::ptrdiff_t>(i), classes_[i]) !=
        classes_.begin() + static_cast<std::ptrdiff_t>(i))
      throw StageError("classes", "\"" + classes_[i] + "\" is listed twice; name each class once");
  }

  if (params.has("positive_class")) {
    const std::string& positive = params.string("positive_class");
    if (std::find(classes_.begin(), classes_.end(), positive) == classes_.end())
      throw StageError("positive_class", "\"" + positive + "\" is not one of the classes " +
                                             quoted_list(classes_) + "; name one of them");
    for (const auto& name : classes_) labels_.push_back(name == positive ? 1 : 0);
  } else {
    for (std::size_t i = 0; i < classes_.size(); ++i) labels_.push_back(static_cast<int>(i));
  }

  const auto extensions = normalised_extensions(params.strings("extensions"), "extensions");
  for (std::size_t index = 0; index < classes_.size(); ++index) {
    const auto folder = root_ / classes_[index];
    const auto files = list_image_files(folder, extensions, params.boolean("recursive"), "root");
    require_unique_ids(files, folder, "root");
    if (files.empty())
      context.warn("class_folders: class \"" + classes_[index] + "\" has no files ending in " +
                   join(extensions, ", ") + " in " + folder.string());
    for (const auto& file : files) files_.push_back({index, file});
  }
  if (files_.empty())
    throw StageError("root", "no files ending in " + join(extensions, ", ") + " in the class folders " +
                                 quoted_list(classes_) + " under " + root_.string() +
                                 "; check root and extensions");
  context.debug("class_folders: " + std::to_string(files_.size()) + " images in " +
                std::to_string(classes_.size()) + " classes under " + root_.string());
}

std::optional<SampleInfo> ClassFoldersReader::next() {
  if (cursor_ >= files_.size()) return std::nullopt;
  const ClassFile& file = files_[cursor_];
  const std::string& name = classes_[file.class_index];
  SampleInfo info;
  info.id = name + "/" + id_without_extension(file.relative);
  info.path = (root_ / name / file.relative).string();
  info.label = labels_[file.class_index];
  info.body_part = body_part_;
  info.tags.emplace("class", name);
  info.index = cursor_++;
  return info;
}

} // namespace radpipe::readers
