#include "mura_reader.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <radpipe/error.hpp>
#include <system_error>

#include "image_listing.hpp"
#include "text.hpp"

namespace radpipe::readers {
namespace {

constexpr std::array<const char*, 3> known_splits{"train", "valid", "test"};
constexpr std::array<const char*, 7> mura_body_parts{"elbow",   "finger",   "forearm", "hand",
                                                     "humerus", "shoulder", "wrist"};

bool is_split(std::string_view name) {
  return std::find(known_splits.begin(), known_splits.end(), name) != known_splits.end();
}

bool all_digits(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

std::vector<std::string_view> components_of(std::string_view path) {
  std::vector<std::string_view> components;
  while (!path.empty()) {
    const auto slash = path.find('/');
    const auto component = path.substr(0, slash);
    if (!component.empty()) components.push_back(component);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return components;
}

// "a dangling symbolic link", "a file", ...: what stands where a folder belongs.
std::string kind_of(const std::filesystem::path& entry) {
  std::error_code error;
  const auto link = std::filesystem::symlink_status(entry, error);
  if (std::filesystem::is_symlink(link) && !std::filesystem::exists(std::filesystem::status(entry, error)))
    return "a dangling symbolic link";
  const auto status = std::filesystem::status(entry, error);
  if (std::filesystem::is_regular_file(status)) return "a file";
  if (std::filesystem::is_fifo(status)) return "a FIFO";
  if (std::filesystem::is_socket(status)) return "a socket";
  if (std::filesystem::is_block_file(status) || std::filesystem::is_character_file(status)) return "a device";
  return "something that is not a folder";
}

// A study folder's name: "study<N>_positive" or "study<N>_negative"; the label, or nullopt.
std::optional<int> study_label(std::string_view name) {
  if (!name.starts_with("study")) return std::nullopt;
  const auto underscore = name.find('_');
  if (underscore == std::string_view::npos || !all_digits(name.substr(5, underscore - 5)))
    return std::nullopt;
  const auto outcome = name.substr(underscore + 1);
  if (outcome == "positive") return 1;
  if (outcome == "negative") return 0;
  return std::nullopt;
}

bool is_patient_folder(std::string_view name) {
  return name.starts_with("patient") && all_digits(name.substr(7));
}

std::string where(const std::filesystem::path& file, std::size_t line) {
  return file.string() + ":" + std::to_string(line) + ": ";
}

} // namespace

std::optional<MuraPath> parse_mura_path(std::string_view written, std::string& problem) {
  const auto components = components_of(written);
  MuraPath path;
  std::size_t at = 0;
  if (!components.empty() && !is_split(components[0])) path.prefix = std::string(components[at++]);
  const auto fail = [&](const std::string& message) -> std::optional<MuraPath> {
    problem = "'" + std::string(written) +
              "' does not follow MURA's layout "
              "{train,valid}/XR_<PART>/patient<ID>/study<N>_<positive|negative>/image<K>.png: " +
              message;
    return std::nullopt;
  };
  if (at >= components.size() || !is_split(components[at]))
    return fail("expected the split folder (train, valid or test)" +
                (at < components.size() ? ", found '" + std::string(components[at]) + "'" : std::string()));
  path.split = std::string(components[at++]);
  std::string relative = path.split;
  const auto next_component = [&] {
    relative += '/';
    relative += components[at];
    return components[at++];
  };
  if (at < components.size()) {
    const auto part = next_component();
    if (!part.starts_with("XR_") || part.size() == 3)
      return fail("expected a body-part folder such as XR_WRIST, found '" + std::string(part) + "'");
    path.body_part = to_lower(part.substr(3));
  }
  if (at < components.size()) {
    const auto patient = next_component();
    if (!is_patient_folder(patient))
      return fail("expected a patient folder such as patient00001, found '" + std::string(patient) + "'");
    path.patient_id = std::string(patient.substr(7));
  }
  if (at < components.size()) {
    const auto study = next_component();
    const auto label = study_label(study);
    if (!label)
      return fail("expected a study folder such as study1_positive or study2_negative, found '" +
                  std::string(study) + "'");
    path.label = *label;
    path.has_study = true;
    path.study_folder = (path.prefix.empty() ? "" : path.prefix + "/") + relative + "/";
  }
  if (at < components.size()) path.image = std::string(next_component());
  if (at < components.size()) return fail("it goes deeper than the image file '" + path.image + "'");
  path.relative = std::move(relative);
  return path;
}

Schema MuraReader::schema() {
  return Schema{
      ParamSpec::path("root", "The MURA-v1.1 folder: the one holding train/, valid/ and MURA's CSV files")
          .existing(),
      ParamSpec::string(
          "source",
          "Where the listing comes from: MURA's *_image_paths.csv files, a scan of the folders, or auto "
          "(the CSV files when every chosen split has one)")
          .with_default("auto")
          .one_of({"auto", "csv", "scan"}),
      ParamSpec::strings("splits", "Splits to read, in this order (train, valid, test)")
          .with_default(std::vector<std::string>{"train", "valid"})
          .items(1, 3),
      ParamSpec::strings(
          "body_parts",
          "Only these body parts (elbow, finger, forearm, hand, humerus, shoulder, wrist); [] for all")
          .with_default(std::vector<std::string>{}),
      ParamSpec::boolean("check_labels",
                         "Check that the labels in *_labeled_studies.csv agree with the study folder names")
          .with_default(ParamValue{true}),
      max_pixels_param(),
  };
}

MuraReader::MuraReader(const Params& params, const StageContext& context) : root_(params.path("root")) {
  max_pixels_ = static_cast<std::uint64_t>(params.integer("max_pixels"));
  if (!is_folder(root_))
    throw StageError("root",
                     root_.string() +
                         " is not a folder; point root at the MURA-v1.1 folder (the one holding train/, "
                         "valid/ and the CSV files)");
  for (const auto& split : params.strings("splits")) {
    if (!is_split(split))
      throw StageError("splits", "\"" + split + "\" is not a MURA split; write train, valid or test");
    if (std::find(splits_.begin(), splits_.end(), split) != splits_.end())
      throw StageError("splits", "\"" + split + "\" is listed twice; name each split once");
    splits_.push_back(split);
  }
  for (const auto& written : params.strings("body_parts")) {
    std::string part = to_lower(trim(written));
    if (std::find(mura_body_parts.begin(), mura_body_parts.end(), part) == mura_body_parts.end())
      throw StageError("body_parts", "\"" + written +
                                         "\" is not a MURA body part; MURA's are elbow, finger, "
                                         "forearm, hand, humerus, shoulder and wrist");
    body_parts_.push_back(std::move(part));
  }

  const std::string& source = params.string("source");
  std::optional<std::filesystem::path> missing_csv;
  for (const auto& split : splits_)
    if (std::error_code error;
        !missing_csv && !std::filesystem::is_regular_file(csv_of(split, "image_paths"), error))
      missing_csv = csv_of(split, "image_paths");
  if (source == "csv" && missing_csv)
    throw StageError("source",
                     "source = \"csv\" but " + missing_csv->string() +
                         " is not there; restore MURA's CSV files or set source = \"scan\" to list the "
                         "folders instead");
  from_csv_ = source == "csv" || (source == "auto" && !missing_csv);

  if (params.boolean("check_labels"))
    for (const auto& split : splits_) check_labeled_studies(split, context);

  if (from_csv_) {
    count_ = check_image_lists();
  } else {
    scan(context);
    count_ = scanned_.size();
  }
  if (count_ == 0)
    context.warn("mura: no images under " + root_.string() + " for splits " + join(splits_, ", ") +
                 (body_parts_.empty() ? std::string() : " and body parts " + join(body_parts_, ", ")));
  context.debug("mura: " + std::to_string(count_) + " images from " +
                (from_csv_ ? std::string("the *_image_paths.csv files") : std::string("a folder scan")) +
                " of " + root_.string());
}

std::filesystem::path MuraReader::csv_of(const std::string& split, std::string_view kind) const {
  return root_ / (split + "_" + std::string(kind) + ".csv");
}

bool MuraReader::wanted(const MuraPath& path) const {
  return std::find(splits_.begin(), splits_.end(), path.split) != splits_.end() &&
         (body_parts_.empty() ||
          std::find(body_parts_.begin(), body_parts_.end(), path.body_part) != body_parts_.end());
}

void MuraReader::check_labeled_studies(const std::string& split, const StageContext& context) const {
  const auto file = csv_of(split, "labeled_studies");
  if (std::error_code error; !std::filesystem::is_regular_file(file, error)) {
    context.warn("mura: " + file.string() + " is not there, so the study labels are not checked against it");
    return;
  }
  CsvRecordReader records(file, "root");
  std::vector<std::string> mismatches;
  std::size_t mismatch_count = 0;
  while (auto record = records.next()) {
    const auto at = where(file, record->line);
    if (record->fields.size() != 2)
      throw StageError(
          "root", at + "expected 2 fields (study folder, label) as in MURA's *_labeled_studies.csv, found " +
                      std::to_string(record->fields.size()));
    std::string problem;
    const auto path = parse_mura_path(record->fields[0], problem);
    if (!path) throw StageError("root", at + problem);
    if (!path->has_study || !path->image.empty())
      throw StageError("root", at + "'" + record->fields[0] + "' is not a study folder path");
    const std::string_view written = trim(record->fields[1]);
    if (written != "0" && written != "1")
      throw StageError("root", at + "the label of " + record->fields[0] + " is '" + std::string(written) +
                                   "'; MURA labels are 0 (normal) or 1 (abnormal)");
    const int label = written == "1" ? 1 : 0;
    if (label == path->label) continue;
    if (++mismatch_count <= 5)
      mismatches.push_back(at + record->fields[0] + " is labelled " + std::string(written) +
                           " but its folder name says " +
                           (path->label == 1 ? "positive (1)" : "negative (0)"));
  }
  if (mismatch_count > 0)
    throw StageError("check_labels",
                     std::to_string(mismatch_count) + " stud" + (mismatch_count == 1 ? "y" : "ies") + " of " +
                         file.string() + " disagree" + (mismatch_count == 1 ? "s" : "") +
                         " with the folder names: " + join(mismatches, "; ") +
                         (mismatch_count > mismatches.size() ? "; ..." : "") +
                         ". radpipe takes labels from the folder names; fix the CSV or the folders, or set "
                         "check_labels = false to accept the folder names");
}

std::size_t MuraReader::check_image_lists() const {
  std::size_t count = 0;
  for (const auto& split : splits_) {
    const auto file = csv_of(split, "image_paths");
    CsvRecordReader records(file, "root");
    while (auto record = records.next()) {
      const auto at = where(file, record->line);
      if (record->fields.size() != 1)
        throw StageError("root",
                         at + "expected one field (the image path) as in MURA's *_image_paths.csv, found " +
                             std::to_string(record->fields.size()));
      std::string problem;
      const auto path = parse_mura_path(record->fields[0], problem);
      if (!path) throw StageError("root", at + problem);
      if (path->image.empty())
        throw StageError("root", at + "'" + record->fields[0] + "' names no image file");
      if (path->split != split)
        throw StageError(
            "root", at + "'" + record->fields[0] + "' belongs to split " + path->split + ", not " + split);
      if (wanted(*path)) ++count;
    }
  }
  return count;
}

void MuraReader::scan(const StageContext& context) {
  const auto relative_of = [&](const std::filesystem::path& entry) {
    return entry.lexically_relative(root_).generic_string();
  };
  const auto ignore = [&](const std::filesystem::path& entry, const char* expected) {
    context.warn("mura: ignored " + entry.string() + ": expected " + expected);
  };
  // Entries named like a level's folders but that are no folders cannot be listed; they become
  // entries whose load reports why, so that the run counts them.
  const auto unreadable = [&](const std::filesystem::path& entry, const char* expected) {
    scanned_.push_back(
        {relative_of(entry), "expected " + std::string(expected) + ", found " + kind_of(entry)});
  };

  for (const auto& split : splits_) {
    const auto split_folder = root_ / split;
    if (!is_folder(split_folder))
      throw StageError("root", "there is no folder " + split + " under " + root_.string() +
                                   "; point root at the MURA-v1.1 folder or choose other splits");
    for (const auto& part : sorted_entries(split_folder, "root")) {
      const std::string part_name = part.filename().string();
      if (!part_name.starts_with("XR_")) {
        ignore(part, "a body-part folder such as XR_WRIST");
        continue;
      }
      if (!body_parts_.empty() && std::find(body_parts_.begin(), body_parts_.end(),
                                            to_lower(part_name.substr(3))) == body_parts_.end())
        continue;
      if (!is_folder(part)) {
        unreadable(part, "a body-part folder");
        continue;
      }
      for (const auto& patient : sorted_entries(part, "root")) {
        if (!is_patient_folder(patient.filename().string())) {
          ignore(patient, "a patient folder such as patient00001");
          continue;
        }
        if (!is_folder(patient)) {
          unreadable(patient, "a patient folder");
          continue;
        }
        for (const auto& study : sorted_entries(patient, "root")) {
          if (!study_label(study.filename().string())) {
            ignore(study, "a study folder such as study1_positive");
            continue;
          }
          if (!is_folder(study)) {
            unreadable(study, "a study folder");
            continue;
          }
          const auto images = list_image_files(study, {".png"}, false, "root");
          if (images.empty()) context.warn("mura: study folder " + study.string() + " holds no .png images");
          for (const auto& image : images) scanned_.push_back({relative_of(study / image), ""});
        }
      }
    }
  }
}

SampleInfo MuraReader::to_info(const MuraPath& path, const std::filesystem::path& file) const {
  SampleInfo info;
  info.path = file.string();
  info.split = path.split;
  info.body_part = path.body_part;
  info.patient_id = path.patient_id;
  if (path.has_study) {
    info.study_id = path.study_folder;
    info.label = path.label;
  }
  if (!path.image.empty())
    info.id = path.study_folder + id_without_extension(path.image);
  else
    info.id = (path.prefix.empty() ? "" : path.prefix + "/") + path.relative;
  return info;
}

std::optional<SampleInfo> MuraReader::next() {
  if (from_csv_) {
    while (split_cursor_ < splits_.size()) {
      if (!records_) records_.emplace(csv_of(splits_[split_cursor_], "image_paths"), "root");
      while (auto record = records_->next()) {
        std::string problem;
        const auto path = parse_mura_path(record->fields.front(), problem); // checked by the constructor
        if (!path || !wanted(*path)) continue;
        SampleInfo info = to_info(*path, root_ / path->relative);
        info.index = next_index_++;
        return info;
      }
      records_.reset();
      ++split_cursor_;
    }
    return std::nullopt;
  }
  if (scan_cursor_ >= scanned_.size()) return std::nullopt;
  const Scanned& entry = scanned_[scan_cursor_++];
  std::string problem;
  const auto path = parse_mura_path(std::string(dataset_folder) + "/" + entry.relative, problem);
  SampleInfo info = to_info(*path, root_ / entry.relative); // the scan only lists names that parse
  if (!entry.problem.empty()) info.tags.emplace(unreadable_tag, entry.problem);
  info.index = next_index_++;
  return info;
}

} // namespace radpipe::readers
