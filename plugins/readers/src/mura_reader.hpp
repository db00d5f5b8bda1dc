// Reader stage `mura`: the MURA-v1.1 dataset (Rajpurkar et al., 2018), from its CSV files or by
// scanning its folder tree {train,valid}/XR_<PART>/patient<ID>/study<N>_<positive|negative>/image<K>.png.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "csv_records.hpp"

#include "image_listing.hpp"

namespace radpipe::readers {

// What a MURA path says about an image: "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/image1.png".
struct MuraPath {
  std::string prefix;     // "MURA-v1.1" (empty when the path starts at the split)
  std::string split;      // "valid"
  std::string body_part;  // "wrist"
  std::string patient_id; // "11185"
  std::string
      study_folder;       // "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/", as MURA's CSVs write it
  int label = 0;          // 1 for a study folder ending in _positive
  std::string image;      // "image1.png"; empty for a study folder path
  std::string relative;   // the path from the split folder on: "valid/XR_WRIST/.../image1.png"
  bool has_study = false; // whether the path reaches the study folder (label and study_folder set)
};

// Parses a MURA path down to an image, or to any folder from the split down (a study folder
// path may end in '/'); the prefix before the split folder is kept as written. nullopt with
// `problem` set when the path does not follow the layout.
std::optional<MuraPath> parse_mura_path(std::string_view path, std::string& problem);

class MuraReader final : public ImageFileReader {
 public:
  MuraReader(const Params& params, const StageContext& context);
  static Schema schema();

  std::optional<SampleInfo> next() override;
  std::optional<std::size_t> size_hint() const override { return count_; }
  // MURA lists each study folder's images together (its CSVs and its folder tree alike).
  bool lists_studies_together() const override { return true; }

  // The prefix MURA's own files put before every path, used for study ids found by scanning.
  static constexpr std::string_view dataset_folder = "MURA-v1.1";

 private:
  // An entry found by scanning: a path below root, and why it cannot be read when it cannot.
  struct Scanned {
    std::string relative;
    std::string problem;
  };

  bool wanted(const MuraPath& path) const;
  std::filesystem::path csv_of(const std::string& split, std::string_view kind) const;
  // Every entry of the chosen splits' *_image_paths.csv, checked; returns how many are kept.
  std::size_t check_image_lists() const;
  void check_labeled_studies(const std::string& split, const StageContext& context) const;
  void scan(const StageContext& context);
  SampleInfo to_info(const MuraPath& path, const std::filesystem::path& file) const;

  std::filesystem::path root_;
  std::vector<std::string> splits_;
  std::vector<std::string> body_parts_; // empty: all
  bool from_csv_ = true;

  // CSV mode: the split being streamed and its records.
  std::size_t split_cursor_ = 0;
  std::optional<CsvRecordReader> records_;
  // Scan mode: the listing, sorted.
  std::vector<Scanned> scanned_;
  std::size_t scan_cursor_ = 0;

  std::size_t count_ = 0;
  std::uint64_t next_index_ = 0;
  std::uint64_t max_pixels() const override { return max_pixels_; }
  std::uint64_t max_pixels_ = 0; // the max_pixels parameter
};

} // namespace radpipe::readers
