#include "image_files_reader.hpp"

#include <algorithm>
#include <map>
#include <type_traits>
#include <radpipe/error.hpp>
#include <system_error>

#include "image_decode.hpp"
#include "text.hpp"

namespace radpipe::readers {
namespace {

// Lower-cased, with a leading dot: "PNG" and ".png" both mean ".png".
std::vector<std::string> normalised_extensions(const std::vector<std::string>& written) {
  std::vector<std::string> extensions;
  for (const auto& extension : written) {
    if (extension.empty() || extension == ".")
      throw StageError("extensions", "an empty extension matches nothing; write extensions such as \".png\"");
    std::string normal = to_lower(extension);
    if (normal.front() != '.') normal.insert(normal.begin(), '.');
    extensions.push_back(std::move(normal));
  }
  return extensions;
}

// Hidden entries (".DS_Store", the "._name.png" resource forks macOS leaves in archives) are never
// radiographs, and decoding them would only produce errors.
bool is_hidden(const std::filesystem::path& entry) {
  return entry.filename().string().starts_with('.');
}

template <class DirectoryIterator>
std::vector<std::filesystem::path> list_images(const std::filesystem::path& root,
                                               const std::vector<std::string>& extensions) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  DirectoryIterator entries(root, std::filesystem::directory_options::skip_permission_denied, error);
  for (; !error && entries != DirectoryIterator(); entries.increment(error)) {
    const auto& entry = entries->path();
    if (is_hidden(entry)) {
      if constexpr (std::is_same_v<DirectoryIterator, std::filesystem::recursive_directory_iterator>)
        if (std::error_code ignored; entries->is_directory(ignored)) entries.disable_recursion_pending();
      continue;
    }
    std::error_code status_error;
    if (!entries->is_regular_file(status_error)) continue;
    const std::string extension = to_lower(entry.extension().string());
    if (std::find(extensions.begin(), extensions.end(), extension) != extensions.end())
      files.push_back(entry.lexically_relative(root));
  }
  if (error) throw StageError("root", "cannot list " + root.string() + ": " + error.message());
  return files;
}

std::string id_of(const std::filesystem::path& relative) {
  std::filesystem::path without_extension = relative;
  without_extension.replace_extension();
  return without_extension.generic_string();
}

} // namespace

Schema ImageFilesReader::schema() {
  return Schema{
      ParamSpec::path("root",
                      "Folder of images, or one image file; ids are paths below it without extension (hidden "
                      "files are skipped)")
          .existing(),
      ParamSpec::strings("extensions", "File extensions to read, case-insensitive")
          .with_default(std::vector<std::string>{".png", ".jpg", ".jpeg"})
          .items(1, 64),
      // ParamValue spelled out: a bare `true` would pick with_default(int).
      ParamSpec::boolean("recursive", "Also read images in subfolders").with_default(ParamValue{true}),
      ParamSpec::string("body_part", "Body part given to every image (hand, wrist, elbow, ...)").optional(),
  };
}

ImageFilesReader::ImageFilesReader(const Params& params, const StageContext& context)
    : root_(params.path("root")) {
  if (params.has("body_part")) body_part_ = to_lower(trim(params.string("body_part")));

  std::error_code error;
  // One file: `radpipe show` reads a single image through this reader.
  if (std::filesystem::is_regular_file(root_, error)) {
    files_.push_back(root_.filename());
    root_ = root_.parent_path();
    return;
  }
  if (!std::filesystem::is_directory(root_, error))
    throw StageError(
        "root",
        root_.string() + " is neither a file nor a folder; point root at the folder that holds the images");

  const auto extensions = normalised_extensions(params.strings("extensions"));
  files_ = params.boolean("recursive")
               ? list_images<std::filesystem::recursive_directory_iterator>(root_, extensions)
               : list_images<std::filesystem::directory_iterator>(root_, extensions);
  if (files_.empty())
    throw StageError(
        "root", "no files ending in " + join(extensions, ", ") + " under " + root_.string() +
                    (params.boolean("recursive") ? "" : " (subfolders not searched: recursive = false)") +
                    "; check root and extensions");

  std::sort(files_.begin(), files_.end(), [](const auto& left, const auto& right) {
    return left.generic_string() < right.generic_string();
  });

  // Ids drop the extension, so "a.png" and "a.jpg" side by side would collide in the outputs.
  std::map<std::string, const std::filesystem::path*> owner_of_id;
  for (const auto& file : files_) {
    auto [existing, inserted] = owner_of_id.try_emplace(id_of(file), &file);
    if (!inserted)
      throw StageError("root", "two files under " + root_.string() + " have the same id \"" +
                                   existing->first + "\": " + existing->second->generic_string() + " and " +
                                   file.generic_string() + "; rename one or narrow extensions");
  }
  context.debug("image_files: " + std::to_string(files_.size()) + " images under " + root_.string());
}

std::optional<SampleInfo> ImageFilesReader::next() {
  if (cursor_ >= files_.size()) return std::nullopt;
  const auto& relative = files_[cursor_];
  SampleInfo info;
  info.id = id_of(relative);
  info.path = (root_ / relative).string();
  info.body_part = body_part_;
  info.index = cursor_;
  ++cursor_;
  return info;
}

} // namespace radpipe::readers
