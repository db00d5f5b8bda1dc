// Reader stage `image_files`: every image file under a folder, in a deterministic order.
#pragma once

#include <cstdint>

#include <filesystem>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <vector>

#include "image_listing.hpp"

namespace radpipe::readers {

class ImageFilesReader final : public ImageFileReader {
 public:
  ImageFilesReader(const Params& params, const StageContext& context);
  static Schema schema();

  std::optional<SampleInfo> next() override;
  std::optional<std::size_t> size_hint() const override { return entries_.size(); }

 private:
  std::filesystem::path root_;
  std::string body_part_;
  // Paths relative to root_, sorted; listing them is cheap next to decoding, which waits for load().
  // `problem`: why the entry cannot be read, when the listing already knows (an unlistable folder).
  struct Entry {
    std::filesystem::path relative;
    std::string problem;
  };
  std::vector<Entry> entries_;
  std::size_t cursor_ = 0;
  std::uint64_t max_pixels() const override { return max_pixels_; }
  std::uint64_t max_pixels_ = 0; // the max_pixels parameter
};

} // namespace radpipe::readers
