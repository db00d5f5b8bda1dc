// Reader stage `image_files`: every image file under a folder, in a deterministic order.
#pragma once

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
  std::optional<std::size_t> size_hint() const override { return files_.size(); }

 private:
  std::filesystem::path root_;
  std::string body_part_;
  // Paths relative to root_, sorted; listing them is cheap next to decoding, which waits for load().
  std::vector<std::filesystem::path> files_;
  std::size_t cursor_ = 0;
};

} // namespace radpipe::readers
