// Decoding one DICOM file with GDCM (the DICOM library inside ITK) into radpipe's pixel
// convention. Runs in the decoder helper process only, never inside radpipe itself: GDCM can
// abort the process on some malformed files.
#pragma once

#include <stdexcept>
#include <string>

#include "decoder_protocol.hpp"

namespace radpipe::dicom {

enum class WindowMode {
  Tags,       // the file's VOI LUT, else its WindowCenter/Width, else the full range
  Full,       // the image's own minimum..maximum
  Percentile, // the image's low..high percentiles of intensity
};

struct WindowOptions {
  WindowMode mode = WindowMode::Tags;
  double low_percentile = 0.0;
  double high_percentile = 100.0;
};

// Why a file could not be decoded, phrased for the user without the file name (the caller adds it).
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Decodes the first frame of `file`: stored values masked to BitsStored, RescaleSlope/Intercept
// applied, the window chosen by `options` mapped linearly onto 0..65535 (VOI LUT and sigmoid
// windows as DICOM PS3.3 C.11.2 defines them), MONOCHROME1 inverted so that bone is bright.
// Throws DecodeError for files that are not DICOM, have no pixel data, are not grayscale, or
// whose pixel data GDCM cannot decode.
DecodedDicom decode_dicom_file(const std::string& file, const WindowOptions& options);

} // namespace radpipe::dicom
