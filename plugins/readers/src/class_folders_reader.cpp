#include "class_folders_reader.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
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
      ParamSpec::real("valid_fraction",
                      "Share of each class's images given split \"valid\" by a seeded shuffle (the rest \"train\"); 0 with "
                      "test_fraction 0 assigns no split")
          .with_default(ParamValue{0.0})
          .in_range(0.0, 0.9),
      ParamSpec::real("test_fraction", "Share of each class's images given split \"test\", drawn like valid_fraction")
          .with_default(ParamValue{0.0})
          .in_range(0.0, 0.9),
      ParamSpec::integer("split_seed", "Seed of the split's shuffle (absent: the [pipeline] seed)").optional().at_least(0),
      max_pixels_param(),
  };
}

namespace {

// A uniform draw from [0, bound) by rejection, the same on every platform (no standard
// distribution, whose output the standard leaves open).
std::uint64_t uniform_below(std::mt19937_64& random, std::uint64_t bound) {
  const std::uint64_t limit = std::numeric_limits<std::uint64_t>::max() - std::numeric_limits<std::uint64_t>::max() % bound;
  std::uint64_t draw;
  do draw = random();
  while (draw >= limit);
  return draw % bound;
}

} // namespace

void ClassFoldersReader::assign_splits(double valid_fraction, double test_fraction, std::uint64_t seed) {
  if (valid_fraction + test_fraction >= 1.0)
    throw StageError("valid_fraction", "valid_fraction + test_fraction must leave images to train on (they sum to " +
                                           std::to_string(valid_fraction + test_fraction) + ")");
  // Stratified: each class is shuffled on its own and cut, so that every split keeps the classes' shares.
  for (std::size_t index = 0; index < classes_.size(); ++index) {
    std::vector<std::size_t> members;
    for (std::size_t i = 0; i < files_.size(); ++i)
      if (files_[i].class_index == index) members.push_back(i);
    std::mt19937_64 random(seed * 0x9E3779B97F4A7C15ULL + index);
    for (std::size_t i = members.size(); i > 1; --i) std::swap(members[i - 1], members[uniform_below(random, i)]);
    const auto count = static_cast<double>(members.size());
    const auto valid = static_cast<std::size_t>(std::lround(count * valid_fraction));
    const auto test = std::min(static_cast<std::size_t>(std::lround(count * test_fraction)), members.size() - valid);
    for (std::size_t i = 0; i < members.size(); ++i)
      files_[members[i]].split = i < valid ? "valid" : i < valid + test ? "test" : "train";
  }
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
    for (const auto& file : files) files_.push_back({index, file, {}});
  }
  if (files_.empty())
    throw StageError("root", "no files ending in " + join(extensions, ", ") + " in the class folders " +
                                 quoted_list(classes_) + " under " + root_.string() +
                                 "; check root and extensions");
  const double valid_fraction = params.real("valid_fraction"), test_fraction = params.real("test_fraction");
  if (valid_fraction > 0.0 || test_fraction > 0.0)
    assign_splits(valid_fraction, test_fraction,
                  params.has("split_seed") ? static_cast<std::uint64_t>(params.integer("split_seed")) : context.seed);
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
  info.split = file.split;
  info.index = cursor_++;
  return info;
}

} // namespace radpipe::readers
