#include "csv_reader.hpp"

#include <charconv>
#include <radpipe/error.hpp>
#include <unordered_set>

#include "image_listing.hpp"
#include "text.hpp"

namespace radpipe::readers {
namespace {

// Integers are class indices; the words cover the ways binary labels are usually written.
std::optional<int> parse_label(std::string_view written) {
  const std::string_view text = trim(written);
  int value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error == std::errc{} && end == text.data() + text.size() && value >= 0) return value;
  const std::string word = to_lower(text);
  for (const char* positive : {"true", "positive", "abnormal", "yes"})
    if (word == positive) return 1;
  for (const char* negative : {"false", "negative", "normal", "no"})
    if (word == negative) return 0;
  return std::nullopt;
}

} // namespace

Schema CsvReader::schema() {
  return Schema{
      ParamSpec::path("file", "The CSV file: a header row naming the columns, then one row per image")
          .existing(),
      ParamSpec::string("image_column", "Column holding each image's path, relative to image_root")
          .with_default("image"),
      ParamSpec::string(
          "label_column",
          "Column holding the label: an integer class, or true/false, positive/negative, abnormal/normal, "
          "yes/no; an empty cell means unknown; \"\" for an unlabelled dataset")
          .with_default("label"),
      ParamSpec::string("body_part_column", "Column holding the body part (lower-cased); \"\" for none")
          .with_default(""),
      ParamSpec::string("patient_column", "Column holding the patient id; \"\" for none").with_default(""),
      ParamSpec::string("study_column", "Column holding the study id; \"\" makes every image its own study")
          .with_default(""),
      ParamSpec::boolean("sorted_by_study",
                         "The rows of each study come one after another: predict then writes each study when "
                         "the next starts and holds one study at a time, not all until the end (a study that "
                         "comes back later in the listing stops the run)")
          .with_default(false),
      ParamSpec::string("view_column", "Column holding the view (frontal, lateral, ...); \"\" for none")
          .with_default(""),
      ParamSpec::string("id_column",
                        "Column holding the sample id; \"\" uses the image path without extension")
          .with_default(""),
      ParamSpec::string("split_column", "Column holding the split (train, valid, test); \"\" for none")
          .with_default("split"),
      ParamSpec::string("split", "Keep only rows whose split column equals this").optional(),
      ParamSpec::string("filter",
                        "Keep only rows that pass this condition on the header's columns, compared as text: "
                        "'split == \"train\"', 'body_part in [\"hand\", \"leg\"] and fold != \"3\"' "
                        "(==, !=, in, not in, and, or, not, parentheses)")
          .optional(),
      ParamSpec::path("image_root", "Folder the image paths are relative to (default: the CSV file's folder)")
          .optional()
          .existing(),
      max_pixels_param(),
  };
}

CsvReader::CsvReader(const Params& params, const StageContext& context)
    : file_(params.path("file")),
      image_root_(params.has("image_root") ? params.path("image_root") : file_.parent_path()),
      split_(params.has("split") ? std::optional<std::string>(params.string("split")) : std::nullopt),
      records_(file_, "file") {
  max_pixels_ = static_cast<std::uint64_t>(params.integer("max_pixels"));
  sorted_by_study_ = params.boolean("sorted_by_study");
  if (params.has("filter")) {
    try {
      filter_.emplace(params.string("filter"));
    } catch (const FilterSyntaxError& error) {
      throw StageError("filter", "at character " + std::to_string(error.character()) + " of '" +
                                     params.string("filter") + "': " + error.what());
    }
  }
  auto header = records_.next();
  if (!header)
    throw StageError(
        "file",
        file_.string() + " is empty; it needs a header row naming the columns, then one row per image");
  header_ = std::move(header->fields);
  columns_ = resolve_columns(params, header_);

  // One streaming pass now gives an exact size for progress and surfaces bad rows (labels, field
  // counts, duplicate ids) before the run starts; only the ids are kept, and only until the end
  // of this constructor.
  CsvRecordReader counting(file_, "file");
  counting.next(); // the header
  std::unordered_set<std::string> ids;
  while (auto record = counting.next()) {
    auto info = to_info(*record);
    if (!info) continue;
    if (!ids.insert(info->id).second)
      throw StageError(
          columns_.id ? "id_column" : "image_column",
          file_.string() + ":" + std::to_string(record->line) + ": id \"" + info->id +
              "\" was already used by an earlier row; ids must be unique" +
              (columns_.id
                   ? ""
                   : " (the id is the image path without extension; set id_column to tell them apart)"));
    ++row_count_;
  }
  if (row_count_ == 0 && split_)
    context.warn("csv: no rows of " + file_.string() + " have split \"" + *split_ + "\"");
  else if (row_count_ == 0 && filter_)
    context.warn("csv: no rows of " + file_.string() + " pass the filter '" + params.string("filter") + "'");
}

CsvReader::Columns CsvReader::resolve_columns(const Params& params,
                                              const std::vector<std::string>& header) const {
  for (std::size_t i = 0; i < header.size(); ++i)
    for (std::size_t j = i + 1; j < header.size(); ++j)
      if (header[i] == header[j])
        throw StageError("file", file_.string() + ":1: the header names column \"" + header[i] +
                                     "\" twice; give every column a distinct name");

  std::vector<bool> used(header.size(), false);
  auto index_of = [&](std::string_view name) -> std::optional<std::size_t> {
    for (std::size_t i = 0; i < header.size(); ++i)
      if (header[i] == name) return i;
    return std::nullopt;
  };
  auto missing = [&](const std::string& key, const std::string& name, bool may_be_empty) {
    return StageError(key, "column \"" + name + "\" is not in the header of " + file_.string() +
                               ", whose columns are " + quoted_list(header) + "; set " + key +
                               " to one of them" + (may_be_empty ? " or to \"\" to go without" : ""));
  };
  // A column named by parameter `key`: absent when the parameter is "", an error when not found.
  auto named_column = [&](const std::string& key, bool may_be_empty) -> std::optional<std::size_t> {
    const std::string& name = params.string(key);
    if (name.empty()) {
      if (!may_be_empty)
        throw StageError(key, "must name a column; the header's columns are " + quoted_list(header));
      return std::nullopt;
    }
    const auto index = index_of(name);
    if (!index) throw missing(key, name, may_be_empty);
    used[*index] = true;
    return index;
  };

  Columns columns;
  columns.count = header.size();
  columns.image = *named_column("image_column", false);
  columns.label = named_column("label_column", true);
  columns.body_part = named_column("body_part_column", true);
  columns.patient = named_column("patient_column", true);
  columns.study = named_column("study_column", true);
  columns.id = named_column("id_column", true);
  columns.view = named_column("view_column", true);

  // The split column is optional unless rows are to be filtered by it.
  const std::string& split_name = params.string("split_column");
  if (!split_name.empty()) {
    columns.split = index_of(split_name);
    if (columns.split) used[*columns.split] = true;
  }
  if (split_ && !columns.split) {
    if (split_name.empty())
      throw StageError("split_column",
                       "split = \"" + *split_ +
                           "\" needs a split column, but split_column is \"\"; name the column "
                           "that holds the split, one of " +
                           quoted_list(header));
    throw missing("split_column", split_name, false);
  }

  for (std::size_t i = 0; i < header.size(); ++i)
    if (!used[i]) columns.tags.emplace_back(header[i], i);

  if (filter_) {
    for (std::size_t field = 0; field < filter_->fields().size(); ++field) {
      const std::string& name = filter_->fields()[field];
      const auto index = index_of(name);
      if (!index)
        throw StageError("filter", "at character " + std::to_string(filter_->field_character(field)) +
                                       " of '" + params.string("filter") + "': column \"" + name +
                                       "\" is not in the header of " + file_.string() +
                                       ", whose columns are " + quoted_list(header));
      columns.filtered.push_back(*index);
    }
  }
  return columns;
}

std::optional<SampleInfo> CsvReader::to_info(const CsvRecord& record) const {
  const auto where = [&] { return file_.string() + ":" + std::to_string(record.line) + ": "; };
  if (record.fields.size() != columns_.count)
    throw StageError("file", where() + "the row has " + std::to_string(record.fields.size()) +
                                 " fields but the header has " + std::to_string(columns_.count) +
                                 "; quote fields that contain commas");
  const auto& fields = record.fields;

  if (filter_ && !filter_->matches([&](std::size_t field) { return trim(fields[columns_.filtered[field]]); }))
    return std::nullopt;

  SampleInfo info;
  if (columns_.split) info.split = fields[*columns_.split];
  if (split_ && info.split != *split_) return std::nullopt;

  const std::string& image = fields[columns_.image];
  if (trim(image).empty())
    throw StageError("image_column", where() + "column \"" + header_[columns_.image] +
                                         "\" is empty; every row needs an image path");
  info.path = (image_root_ / image).lexically_normal().string();

  if (columns_.id) {
    info.id = fields[*columns_.id];
    if (trim(info.id).empty())
      throw StageError("id_column",
                       where() + "column \"" + header_[*columns_.id] + "\" is empty; every row needs an id");
  } else {
    info.id = id_without_extension(image);
  }

  if (columns_.label && !trim(fields[*columns_.label]).empty()) {
    info.label = parse_label(fields[*columns_.label]);
    if (!info.label)
      throw StageError(
          "label_column",
          where() + "column \"" + header_[*columns_.label] + "\" holds \"" + fields[*columns_.label] +
              "\", which is not a label; write an integer class, or true/false, positive/negative, "
              "abnormal/normal, yes/no");
  }
  if (columns_.body_part) info.body_part = to_lower(trim(fields[*columns_.body_part]));
  if (columns_.patient) info.patient_id = fields[*columns_.patient];
  if (columns_.study) info.study_id = fields[*columns_.study];
  if (columns_.view) info.view = to_lower(trim(fields[*columns_.view]));
  for (const auto& [name, index] : columns_.tags) info.tags.emplace(name, fields[index]);
  return info;
}

std::optional<SampleInfo> CsvReader::next() {
  while (auto record = records_.next()) {
    if (auto info = to_info(*record)) {
      info->index = next_index_++;
      return info;
    }
  }
  return std::nullopt;
}

} // namespace radpipe::readers
