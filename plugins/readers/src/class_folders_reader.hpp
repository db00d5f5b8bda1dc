// Reader stage `class_folders`: root/<class>/<images>, the layout of Keras' flow_from_directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <vector>

#include "image_listing.hpp"

namespace radpipe::readers {

class ClassFoldersReader final : public ImageFileReader {
 public:
  ClassFoldersReader(const Params& params, const StageContext& context);
  static Schema schema();

  std::optional<SampleInfo> next() override;
  std::optional<std::size_t> size_hint() const override { return files_.size(); }

 private:
  struct ClassFile {
    std::size_t class_index = 0;
    std::filesystem::path relative; // below the class folder
    std::string split;              // "train", "valid", "test", or empty without a split
  };

  void assign_splits(double valid_fraction, double test_fraction, std::uint64_t seed);

  std::filesystem::path root_;
  std::vector<std::string> classes_;
  std::vector<int> labels_; // per class
  std::string body_part_;
  std::vector<ClassFile> files_; // class by class, each sorted by path
  std::size_t cursor_ = 0;
  std::uint64_t max_pixels() const override { return max_pixels_; }
  std::uint64_t max_pixels_ = 0; // the max_pixels parameter
};

} // namespace radpipe::readers
