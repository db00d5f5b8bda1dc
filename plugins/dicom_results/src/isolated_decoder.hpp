// Decodes DICOM pixels the way the dicom reader does: through the dicom plugin's pool of
// radpipe-dicom-decoder helper processes (one helper here), so that a file on which GDCM aborts
// costs one image and never the run. Bytes held in memory (fetched from a PACS) reach the decoder
// through an anonymous memory file (memfd), never through the disk.
#pragma once

#include <chrono>
#include <memory>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "decoder_pool.hpp"
#include "decoder_protocol.hpp"

namespace radpipe::dicom_results {

// Why a DICOM image could not be decoded, phrased without the source's name (the caller adds it).
class DecodeFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class IsolatedDecoder {
 public:
  // `window`: the dicom reader's window mode (tags, stored, full, percentile). Copies share one
  // helper process.
  IsolatedDecoder(std::filesystem::path program, std::string window, std::chrono::milliseconds time_limit);

  // radpipe-dicom-decoder in the folder of the library (plugin or executable) that holds this code.
  static std::filesystem::path installed_program();

  dicom::DecodedDicom decode_file(const std::string& path) const;
  dicom::DecodedDicom decode_bytes(std::string_view bytes) const;

 private:
  std::shared_ptr<dicom::DecoderPool> pool_;
  dicom::DecodeOptions options_;
};

} // namespace radpipe::dicom_results
