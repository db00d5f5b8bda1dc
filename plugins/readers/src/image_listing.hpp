// Folder listings and the load step shared by the folder-based readers (`class_folders`,
// `study_folder`, `mura`) and the CSV reader.
#pragma once

#include <cstdint>
#include <filesystem>
#include <radpipe/sample.hpp>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <vector>

namespace radpipe::readers {

// The `extensions` parameter of the folder readers: which files are images.
ParamSpec extensions_param();

// Lower-cased, with a leading dot: "PNG" and ".png" both mean ".png". Throws StageError on
// `key` for an empty extension.
std::vector<std::string> normalised_extensions(const std::vector<std::string>& written,
                                               const std::string& key);

// Hidden entries (".DS_Store", the "._name.png" resource forks macOS leaves in archives) are never
// radiographs, and decoding them would only produce errors.
bool is_hidden(const std::filesystem::path& entry);

// Whether `entry` is a folder or a link to one; false when it cannot be inspected.
bool is_folder(const std::filesystem::path& entry);

// The entries of `folder` that are not hidden, sorted by name. Throws StageError on `key` when
// the folder cannot be listed.
std::vector<std::filesystem::path> sorted_entries(const std::filesystem::path& folder,
                                                  const std::string& key);

// Image files under `folder` (paths relative to it, sorted), by extension. Entries that carry an
// image extension but are not readable files (a dangling symbolic link, a FIFO, a device) are
// listed all the same: loading them fails with the reason, so that the run's on_error policy
// counts them instead of the listing hiding them. Subfolders are searched when `recursive`;
// symbolic links to folders are not followed (they could loop).
// A subfolder that cannot be listed (no permission, gone while listing) stops the listing with a
// StageError, unless `unlistable` is given: then it is recorded there and the listing goes on.
struct UnlistableFolder {
  std::filesystem::path relative; // to the listed folder
  std::string reason;
};
std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& folder,
                                                    const std::vector<std::string>& extensions,
                                                    bool recursive, const std::string& key,
                                                    std::vector<UnlistableFolder>* unlistable = nullptr);

// Ids drop the extension, so "a.png" and "a.jpg" side by side would collide in the outputs:
// throws StageError on `key` naming both files.
void require_unique_ids(const std::vector<std::filesystem::path>& files, const std::filesystem::path& folder,
                        const std::string& key);

// The tag a reader sets on an entry whose listing already showed it cannot be read (a file where
// a study folder belongs, say); its value is the reason, which load_listed_image reports.
inline constexpr const char* unreadable_tag = "unreadable";

// The `max_pixels` parameter of every image reader: an image whose header declares more pixels is
// refused before it is decoded.
ParamSpec max_pixels_param();

// Decodes the image of a listed entry as `hint` allows, or throws SampleError with the reason the
// listing found.
Sample load_listed_image(const SampleInfo& info, std::uint64_t max_pixels, const DecodeHint& hint);

// The base of this plugin's readers: every entry is an image file, decoded as the host's hint
// allows and refused above the reader's max_pixels.
class ImageFileReader : public Reader {
 public:
  Sample load(const SampleInfo& info) const final { return load_listed_image(info, max_pixels(), DecodeHint{}); }
  Sample load_hinted(const SampleInfo& info, const DecodeHint& hint) const final {
    return load_listed_image(info, max_pixels(), hint);
  }

 protected:
  // The reader's max_pixels parameter.
  virtual std::uint64_t max_pixels() const = 0;
};

// The id of a listed file: its relative path without extension, with '/' separators.
std::string id_without_extension(const std::filesystem::path& relative);

} // namespace radpipe::readers
