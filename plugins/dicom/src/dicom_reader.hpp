// Reader stage `dicom`: DICOM radiographs from a file or a folder tree. Pixels come out CV_16U,
// one channel, the chosen window spanning 0..65535, bone bright (MONOCHROME1 inverted), so that
// the grayscale, resize and normalize transforms apply unchanged.
//
// Each file is decoded by the helper program radpipe-dicom-decoder, installed beside the plugin,
// in a process of its own: GDCM may abort on malformed files, and then only that file fails.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <vector>

namespace radpipe::dicom {

class DicomReader final : public Reader {
 public:
  DicomReader(const Params& params, const StageContext& context);
  // The same with the decoder program named explicitly instead of the one beside the plugin.
  DicomReader(const Params& params, const StageContext& context, std::filesystem::path decoder);
  static Schema schema();

  std::optional<SampleInfo> next() override;
  // Runs the decoder on the file; patient, study, body part, view, spacing and tags are filled
  // from its header here, because listing reads no headers.
  Sample load(const SampleInfo& info) const override;
  std::optional<std::size_t> size_hint() const override { return files_.size(); }

  // radpipe-dicom-decoder in the folder of the library that holds this code.
  static std::filesystem::path installed_decoder();

 private:
  std::filesystem::path decoder_;
  std::vector<std::string> decoder_arguments_; // the window options, before the file name
  std::chrono::milliseconds time_limit_;
  std::string fallback_body_part_;
  std::filesystem::path root_;
  std::vector<std::filesystem::path> files_; // relative to root_, sorted
  std::vector<std::string> ids_;
  std::size_t cursor_ = 0;
};

} // namespace radpipe::dicom
