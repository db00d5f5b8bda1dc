// Decodes DICOM pixels the way the dicom reader does: in radpipe-dicom-decoder, a process of its
// own, so that a file on which GDCM aborts costs one image and never the run. Bytes held in memory
// (fetched from a PACS) reach the decoder through an anonymous memory file (memfd), never through
// the disk.
#pragma once

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "decoder_protocol.hpp"

namespace radpipe::dicom_results {

// Why a DICOM image could not be decoded, phrased without the source's name (the caller adds it).
class DecodeFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class IsolatedDecoder {
 public:
  // `window`: the decoder's --window mode (tags, full, percentile).
  IsolatedDecoder(std::filesystem::path program, std::string window, std::chrono::milliseconds time_limit);

  // radpipe-dicom-decoder in the folder of the library (plugin or executable) that holds this code.
  static std::filesystem::path installed_program();

  dicom::DecodedDicom decode_file(const std::string& path) const;
  dicom::DecodedDicom decode_bytes(std::string_view bytes) const;

 private:
  std::filesystem::path program_;
  std::vector<std::string> arguments_;
  std::chrono::milliseconds time_limit_;
};

} // namespace radpipe::dicom_results
