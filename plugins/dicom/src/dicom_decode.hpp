// Decoding DICOM files with GDCM (the DICOM library inside ITK) into radpipe's pixel convention.
// Runs in the decoder helper process only, never inside radpipe itself: GDCM can abort the
// process on some malformed files. (Tests and the benchmark call it in-process on files they wrote.)
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>

#include "decoder_protocol.hpp"

namespace radpipe::dicom {

// Why a file could not be decoded, phrased for the user without the file name (the caller adds it).
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where a decoded frame's pixels go: a continuous matrix of this size and type, owning its memory
// or viewing memory the caller provides (the helper's shared memory). Empty: a new cv::Mat.
using PixelAllocator = std::function<cv::Mat(int rows, int columns, int type)>;

// Decodes frames of DICOM files. What it reads:
// - grayscale (MONOCHROME1, inverted so that bone is bright, and MONOCHROME2) and colour (RGB,
//   YBR_FULL, YBR_FULL_422, YBR_RCT, YBR_ICT; planar or interleaved), in any transfer syntax GDCM
//   decodes;
// - 1 to 32 bits stored, signed or unsigned, and 32- or 64-bit float (Float Pixel Data);
// - every frame of a multi-frame file, one at a time.
// Stored values are masked to BitsStored (bits above HighBit may hold overlays), RescaleSlope/
// Intercept applied (grayscale only), and the window chosen by DecodeOptions mapped linearly onto
// the output's full scale (VOI LUT and sigmoid windows as DICOM PS3.3 C.11.2 defines them):
// - tags: the VOI LUT, else WindowCenter/Width, else `stored` for display-ready pixels (colour,
//   or 8 bits stored or fewer: secondary captures, scanned films, converted JPEGs) and `full` for
//   the rest (raw detector data, whose stored range can be far wider than its values). Colour
//   images have no VOI (PS3.3 C.11.2 applies it to grayscale only), so they always take `stored`.
// - stored: the range the stored bits can hold, for float pixels 0..1;
// - full: the frame's own minimum..maximum; percentile: its low..high percentiles.
// The output is CV_8U when the window is `stored` and at most 8 bits are stored, so that such a
// file reaches the model exactly as the same pixels in a PNG or JPEG do; CV_16U otherwise.
//
// Decode in one thread at a time per process, whatever the number of decoders: GDCM's warning
// stream, which decoding redirects, is process-wide (the helper is single-threaded). It keeps the last
// multi-frame file decoded, so that reading its frames one after another decodes it once.
class DicomDecoder {
 public:
  DicomDecoder();
  ~DicomDecoder();
  DicomDecoder(const DicomDecoder&) = delete;
  DicomDecoder& operator=(const DicomDecoder&) = delete;

  // NumberOfFrames, from the header alone (1 when absent). Throws DecodeError for a file whose
  // header cannot be read.
  int count_frames(const std::string& file);

  // Frame `frame` (1-based) of `file`. Throws DecodeError for files that are not DICOM, have no
  // pixel data, a layout radpipe does not read, or pixel data GDCM cannot decode.
  DecodedDicom decode(const std::string& file, int frame, const DecodeOptions& options,
                      const PixelAllocator& allocate = {});

  struct LoadedFile; // a file read and decoded, kept while its frames are asked for

 private:
  std::shared_ptr<const LoadedFile> load(const std::string& file);
  std::shared_ptr<const LoadedFile> cached_; // the last multi-frame file
};

} // namespace radpipe::dicom
