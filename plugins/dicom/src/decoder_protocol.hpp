// What the `dicom` reader and its decoder helper (radpipe-dicom-decoder) say to each other.
//
// The helper is long-lived: it reads one request per line on its stdin and answers each with one
// line on its stdout, both JSON; it greets once, with the line "radpipe-dicom-decoder 2", before
// its first answer. A decoded image's pixels do not travel on the line: the helper writes them at
// the start of the shared memory file it was given as descriptor 3, and the answer says their
// layout. Both ends are built from the same source in the same build, so native byte order is safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <opencv2/core/mat.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace radpipe::dicom {

inline constexpr std::string_view decoder_greeting = "radpipe-dicom-decoder 2";

enum class WindowMode {
  Tags,       // the file's VOI LUT, else its WindowCenter/Width, else Stored or Full (see dicom_decode.hpp)
  Stored,     // the range the stored bits can hold (0..2^BitsStored-1), as image files are read
  Full,       // the image's own minimum..maximum
  Percentile, // the image's low..high percentiles of intensity
};

// What colour images become; grayscale images are never changed by it.
enum class ColorMode {
  Luma, // one channel, Y = 0.299 R + 0.587 G + 0.114 B, as the grayscale transform computes it
  Rgb,  // three channels, R, G, B
};

// The names the `window` and `color` parameters use; nullopt for a name that is none of them.
std::string_view name_of(WindowMode mode);
std::optional<WindowMode> window_mode_named(std::string_view name);
std::string_view name_of(ColorMode mode);
std::optional<ColorMode> color_mode_named(std::string_view name);

struct DecodeOptions {
  WindowMode window = WindowMode::Tags;
  double low_percentile = 0.0;
  double high_percentile = 100.0;
  ColorMode color = ColorMode::Luma;
};

// Everything the reader takes from a file besides its pixels.
struct DicomHeader {
  std::string patient_id;
  std::string study_id;                                  // StudyInstanceUID
  std::string body_part;                                 // BodyPartExamined, lower-case
  std::string view;                                      // ViewPosition
  std::optional<std::array<double, 2>> pixel_spacing_mm; // row, column
  std::map<std::string, std::string> tags;
};

// A decoded frame in radpipe's convention: bright is dense (bone), the chosen window spans the
// depth's full scale, one channel (gray or luma) or three (RGB), CV_8U or CV_16U.
struct DecodedDicom {
  DicomHeader header;
  cv::Mat image;
};

struct DecoderRequest {
  enum class Operation { Decode, CountFrames };
  Operation operation = Operation::Decode;
  std::uint64_t number = 0; // echoed in the answer, so that an answer is never taken for another's
  std::string file;
  int frame = 1; // 1-based, as DICOM numbers frames
  DecodeOptions options;
};

// The pixels of an answer in the shared memory: rows x columns x channels samples of 8 or 16 bits.
struct PixelLayout {
  int rows = 0;
  int columns = 0;
  int channels = 0;
  int bits = 0;

  int cv_type() const;
  std::size_t bytes() const;
};

struct DecoderReply {
  std::uint64_t request = 0;         // the number of the request answered
  std::string error;                 // set when the helper could not do what was asked
  std::optional<int> frames;         // the answer to CountFrames
  std::optional<DicomHeader> header; // with `layout`, the answer to Decode
  std::optional<PixelLayout> layout;
};

std::string encode_request(const DecoderRequest& request);
// Throws std::runtime_error saying what is wrong with a line that is not a request.
DecoderRequest parse_request(std::string_view line);

std::string encode_decoded(std::uint64_t request, const DicomHeader& header, const PixelLayout& layout);
std::string encode_frame_count(std::uint64_t request, int frames);
std::string encode_failure(std::uint64_t request, const std::string& error);
// Throws std::runtime_error saying what is wrong when `line` is not an answer (garbled, a field
// missing, an impossible layout): the helper is broken or is not the matching version.
DecoderReply parse_reply(std::string_view line);

} // namespace radpipe::dicom
