#include "image_files_reader.hpp"

#include <algorithm>
#include <radpipe/error.hpp>
#include <system_error>

#include "image_listing.hpp"
#include "text.hpp"

namespace radpipe::readers {

Schema ImageFilesReader::schema() {
  return Schema{
      ParamSpec::path("root",
                      "Folder of images, or one image file; ids are paths below it without extension (hidden "
                      "files are skipped)")
          .existing(),
      extensions_param(),
      // ParamValue spelled out: a bare `true` would pick with_default(int).
      ParamSpec::boolean("recursive", "Also read images in subfolders").with_default(ParamValue{true}),
      ParamSpec::string("body_part", "Body part given to every image (hand, wrist, elbow, ...)").optional(),
      max_pixels_param(),
  };
}

ImageFilesReader::ImageFilesReader(const Params& params, const StageContext& context)
    : root_(params.path("root")) {
  max_pixels_ = static_cast<std::uint64_t>(params.integer("max_pixels"));
  if (params.has("body_part")) body_part_ = to_lower(trim(params.string("body_part")));

  std::error_code error;
  // One file: `radpipe show` reads a single image through this reader.
  if (std::filesystem::is_regular_file(root_, error)) {
    entries_.push_back({root_.filename(), {}});
    root_ = root_.parent_path();
    return;
  }
  if (!std::filesystem::is_directory(root_, error))
    throw StageError(
        "root",
        root_.string() + " is neither a file nor a folder; point root at the folder that holds the images");

  const auto extensions = normalised_extensions(params.strings("extensions"), "extensions");
  // Entries that cannot be read (dangling links, symbolic link loops, FIFOs, unreadable folders)
  // are listed all the same: loading them fails with the reason, so that on_error skips and counts
  // them or stops the run, instead of the listing dropping them without a word.
  std::vector<UnlistableFolder> unlistable;
  const auto files = list_image_files(root_, extensions, params.boolean("recursive"), "root", &unlistable);
  require_unique_ids(files, root_, "root");
  for (const auto& file : files) entries_.push_back({file, {}});
  for (auto& folder : unlistable) entries_.push_back({std::move(folder.relative), std::move(folder.reason)});
  if (entries_.empty())
    throw StageError(
        "root", "no files ending in " + join(extensions, ", ") + " under " + root_.string() +
                    (params.boolean("recursive") ? "" : " (subfolders not searched: recursive = false)") +
                    "; check root and extensions");
  std::sort(entries_.begin(), entries_.end(),
            [](const Entry& left, const Entry& right) { return left.relative.generic_string() < right.relative.generic_string(); });
  if (!unlistable.empty())
    context.warn("image_files: " + std::to_string(unlistable.size()) + " folder(s) under " + root_.string() +
                 " cannot be listed; each counts as one unreadable entry");
  context.debug("image_files: " + std::to_string(entries_.size()) + " images under " + root_.string());
}

std::optional<SampleInfo> ImageFilesReader::next() {
  if (cursor_ >= entries_.size()) return std::nullopt;
  const auto& entry = entries_[cursor_];
  SampleInfo info;
  info.id = id_without_extension(entry.relative);
  info.path = (root_ / entry.relative).string();
  info.body_part = body_part_;
  info.index = cursor_;
  if (!entry.problem.empty()) info.tags.emplace(unreadable_tag, entry.problem);
  ++cursor_;
  return info;
}

} // namespace radpipe::readers
