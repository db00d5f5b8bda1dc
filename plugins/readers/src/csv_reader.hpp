// Reader stage `csv`: a labelled dataset described by a CSV file, one row per image.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <utility>
#include <vector>

#include "csv_records.hpp"
#include "row_filter.hpp"

#include "image_listing.hpp"

namespace radpipe::readers {

class CsvReader final : public ImageFileReader {
 public:
  CsvReader(const Params& params, const StageContext& context);
  static Schema schema();

  std::optional<SampleInfo> next() override;
  std::optional<std::size_t> size_hint() const override { return row_count_; }
  bool lists_studies_together() const override { return sorted_by_study_; }

 private:
  // Where each field of interest sits in a row; columns not named by a parameter become tags.
  struct Columns {
    std::size_t count = 0;
    std::size_t image = 0;
    std::optional<std::size_t> label, body_part, patient, study, id, split, view;
    std::vector<std::size_t> filtered; // the column of each field the filter reads
    std::vector<std::pair<std::string, std::size_t>> tags;
  };

  Columns resolve_columns(const Params& params, const std::vector<std::string>& header) const;
  // The row as a SampleInfo (index left 0), or nullopt when the split filter drops it.
  std::optional<SampleInfo> to_info(const CsvRecord& record) const;

  std::filesystem::path file_;
  std::filesystem::path image_root_;
  std::optional<std::string> split_;
  std::optional<RowFilter> filter_;
  CsvRecordReader records_;
  Columns columns_;
  std::vector<std::string> header_;
  std::size_t row_count_ = 0;
  std::uint64_t next_index_ = 0;
  std::uint64_t max_pixels() const override { return max_pixels_; }
  std::uint64_t max_pixels_ = 0; // the max_pixels parameter
  bool sorted_by_study_ = false;
};

} // namespace radpipe::readers
