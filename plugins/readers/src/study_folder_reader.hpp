// Reader stage `study_folder`: every image of one folder is one study, without labels; for
// predicting one verdict on one patient's study.
#pragma once

#include <cstdint>

#include <filesystem>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <vector>

#include "image_listing.hpp"

namespace radpipe::readers {

class StudyFolderReader final : public ImageFileReader {
 public:
  StudyFolderReader(const Params& params, const StageContext& context);
  static Schema schema();

  std::optional<SampleInfo> next() override;
  std::optional<std::size_t> size_hint() const override { return files_.size(); }
  // The whole folder is one study.
  bool lists_studies_together() const override { return true; }

 private:
  std::filesystem::path folder_;
  std::string study_id_;
  std::string patient_id_;
  std::string body_part_;
  std::vector<std::filesystem::path> files_; // relative to folder_, sorted
  std::size_t cursor_ = 0;
  std::uint64_t max_pixels() const override { return max_pixels_; }
  std::uint64_t max_pixels_ = 0; // the max_pixels parameter
};

} // namespace radpipe::readers
