// Reader stage `dicom`: DICOM radiographs from a file or a folder tree, one sample per frame.
// Pixels come out one channel (or RGB with color = "rgb"), the chosen window spanning the
// depth's full scale, bone bright (MONOCHROME1 inverted), CV_16U, or CV_8U for 8-bit files read
// through the stored window, so that the grayscale, resize and normalize transforms apply
// unchanged. dicom_decode.hpp says what is read and how the window is chosen.
//
// Files are decoded by a small pool of radpipe-dicom-decoder processes, installed beside the
// plugin: GDCM may abort on malformed files, and then only that file fails.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <radpipe/schema.hpp>
#include <radpipe/stages.hpp>
#include <string>
#include <vector>

#include "decoder_pool.hpp"

namespace radpipe::dicom {

class DicomReader final : public Reader {
 public:
  DicomReader(const Params& params, const StageContext& context);
  // The same with the decoder program named explicitly instead of the one beside the plugin.
  DicomReader(const Params& params, const StageContext& context, std::filesystem::path decoder);
  static Schema schema();

  // The next frame: a file of one frame is one sample with the file's id; frame k of a
  // multi-frame file is the sample "ID#framek" (k from 1). Counting frames reads each file's
  // header, in a helper process of its own.
  std::optional<SampleInfo> next() override;
  // Decodes the sample's frame; patient, study, body part, view, spacing and tags are filled
  // from its header here. Thread-safe: the decoder pool lends each call a helper of its own.
  Sample load(const SampleInfo& info) const override;
  // The number of files; the frames of multi-frame files come on top.
  std::optional<std::size_t> size_hint() const override { return files_.size(); }

  // radpipe-dicom-decoder in the folder of the library that holds this code.
  static std::filesystem::path installed_decoder();

 private:
  DecodeOptions options_;
  std::unique_ptr<DecoderPool> decoders_; // decodes frames for load(), from any thread
  std::unique_ptr<DecoderPool> counter_;  // counts frames for next(), so listing never waits for a decode
  LogFunction log_;
  std::string fallback_body_part_;
  std::filesystem::path root_;
  std::vector<std::filesystem::path> files_; // relative to root_, sorted
  std::vector<std::string> ids_;
  std::size_t next_file_ = 0;
  int frames_of_current_ = 0; // frames of files_[next_file_ - 1]
  int next_frame_ = 1;        // the next of them to list (past the last: go to the next file)
  std::uint64_t listed_ = 0;
};

} // namespace radpipe::dicom
