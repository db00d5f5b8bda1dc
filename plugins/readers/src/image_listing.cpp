#include "image_listing.hpp"

#include <algorithm>
#include <map>
#include <radpipe/error.hpp>
#include <system_error>

#include "image_decode.hpp"
#include "text.hpp"

namespace radpipe::readers {

ParamSpec extensions_param() {
  return ParamSpec::strings("extensions", "File extensions to read, case-insensitive")
      .with_default(std::vector<std::string>{".png", ".jpg", ".jpeg"})
      .items(1, 64);
}

std::vector<std::string> normalised_extensions(const std::vector<std::string>& written,
                                               const std::string& key) {
  std::vector<std::string> extensions;
  for (const auto& extension : written) {
    if (extension.empty() || extension == ".")
      throw StageError(key, "an empty extension matches nothing; write extensions such as \".png\"");
    std::string normal = to_lower(extension);
    if (normal.front() != '.') normal.insert(normal.begin(), '.');
    extensions.push_back(std::move(normal));
  }
  return extensions;
}

bool is_folder(const std::filesystem::path& entry) {
  std::error_code error;
  return std::filesystem::is_directory(std::filesystem::status(entry, error));
}

bool is_hidden(const std::filesystem::path& entry) {
  return entry.filename().string().starts_with('.');
}

std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& folder,
                                                  const std::string& key) {
  std::vector<std::filesystem::path> entries;
  std::error_code error;
  std::filesystem::directory_iterator iterator(folder, error);
  for (; !error && iterator != std::filesystem::directory_iterator(); iterator.increment(error))
    if (!is_hidden(iterator->path())) entries.push_back(iterator->path());
  if (error)
    throw StageError(key, "cannot list folder " + folder.string() + ": " + error.message() +
                              "; check that it exists, is a folder and is readable");
  std::sort(entries.begin(), entries.end());
  return entries;
}

namespace {

// symlink_status: a link to a folder is not descended into (it could loop).
bool is_real_folder(const std::filesystem::path& entry) {
  std::error_code error;
  return std::filesystem::is_directory(std::filesystem::symlink_status(entry, error));
}

void collect(const std::filesystem::path& root, const std::filesystem::path& folder,
             const std::vector<std::string>& extensions, bool recursive, const std::string& key,
             std::vector<std::filesystem::path>& files, std::vector<UnlistableFolder>* unlistable) {
  std::vector<std::filesystem::path> entries;
  try {
    entries = sorted_entries(folder, key);
  } catch (const StageError& error) {
    if (unlistable == nullptr || folder == root) throw;
    std::error_code reason;
    std::filesystem::directory_iterator probe(folder, reason);
    unlistable->push_back({folder.lexically_relative(root), "cannot list folder: " + (reason ? reason.message() : error.what())});
    return;
  }
  for (const auto& entry : entries) {
    if (is_real_folder(entry)) {
      if (recursive) collect(root, entry, extensions, recursive, key, files, unlistable);
      continue;
    }
    const std::string extension = to_lower(entry.extension().string());
    if (std::find(extensions.begin(), extensions.end(), extension) != extensions.end())
      files.push_back(entry.lexically_relative(root));
  }
}

} // namespace

std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& folder,
                                                    const std::vector<std::string>& extensions,
                                                    bool recursive, const std::string& key,
                                                    std::vector<UnlistableFolder>* unlistable) {
  std::vector<std::filesystem::path> files;
  collect(folder, folder, extensions, recursive, key, files, unlistable);
  // Sorted by generic path string, so that the order is the same whatever the separator.
  std::sort(files.begin(), files.end(), [](const auto& left, const auto& right) {
    return left.generic_string() < right.generic_string();
  });
  return files;
}

void require_unique_ids(const std::vector<std::filesystem::path>& files, const std::filesystem::path& folder,
                        const std::string& key) {
  std::map<std::string, const std::filesystem::path*> owner_of_id;
  for (const auto& file : files) {
    auto [existing, inserted] = owner_of_id.try_emplace(id_without_extension(file), &file);
    if (!inserted)
      throw StageError(key, "two files under " + folder.string() + " have the same id \"" + existing->first +
                                "\": " + existing->second->generic_string() + " and " +
                                file.generic_string() + "; rename one or narrow extensions");
  }
}

ParamSpec max_pixels_param() {
  // 10000 x 10000: above a 600-dpi scan of a 14 x 17 inch film (86 million) and any stitched
  // long-leg radiograph; a crafted header declaring 32000 x 32000 once took 1.2 GB to decode.
  return ParamSpec::integer("max_pixels",
                            "Refuse an image whose header declares more pixels than this (width x height), before decoding it")
      .with_default(ParamValue{std::int64_t{100'000'000}})
      .at_least(1);
}

Sample load_listed_image(const SampleInfo& info, std::uint64_t max_pixels, const DecodeHint& hint) {
  if (auto problem = info.tags.find(unreadable_tag); problem != info.tags.end() && !problem->second.empty())
    throw SampleError(info.path, "cannot read " + info.path + ": " + problem->second);
  return Sample{info, decode_image_file(info.path, max_pixels, hint)};
}

std::string id_without_extension(const std::filesystem::path& relative) {
  std::filesystem::path stripped = relative;
  stripped.replace_extension();
  return stripped.generic_string();
}

} // namespace radpipe::readers
