#include "image_decode.hpp"

#include "image_header.hpp"

#include <algorithm>
#include <climits>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/error.hpp>
#include <optional>
#include <string_view>
#include <system_error>
#include <vector>

namespace radpipe::readers {
namespace {

constexpr unsigned char marker_prefix = 0xFF;
constexpr unsigned char start_of_scan = 0xDA;
constexpr unsigned char end_of_image = 0xD9;

bool is_restart_marker(unsigned char marker) {
  return marker >= 0xD0 && marker <= 0xD7;
}

// Markers that stand alone, without a length field: TEM and the restart markers.
bool is_standalone_marker(unsigned char marker) {
  return marker == 0x01 || is_restart_marker(marker);
}

bool looks_like_dicom(std::span<const unsigned char> bytes) {
  return bytes.size() >= 132 && bytes[128] == 'D' && bytes[129] == 'I' && bytes[130] == 'C' && bytes[131] == 'M';
}

// Radiance HDR ("#?RADIANCE", "#?RGBE"). OpenCV decodes it from a temporary file, and its decoder
// throws on a malformed header or pixel run before closing that file: each bad file leaked a
// descriptor until a long run died of "Too many open files" (found by the fuzz target).
bool looks_like_radiance(std::span<const unsigned char> bytes) {
  const auto starts_with = [&](std::string_view signature) {
    return bytes.size() >= signature.size() && std::equal(signature.begin(), signature.end(), bytes.begin());
  };
  return starts_with("#?RADIANCE") || starts_with("#?RGBE");
}

bool looks_like_jpeg(std::span<const unsigned char> bytes) {
  return bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

std::vector<unsigned char> read_file(const std::filesystem::path& file) {
  const std::string name = file.string();
  std::error_code error;
  const auto status = std::filesystem::status(file, error);
  // A symbolic link loop says so ("Too many levels of symbolic links"); a dangling link or a
  // missing file is "no such file".
  if (error && error != std::errc::no_such_file_or_directory && error != std::errc::not_a_directory)
    throw SampleError(name, "cannot read image " + name + ": " + error.message());
  if (!std::filesystem::exists(status))
    throw SampleError(name, "cannot read image " + name + ": no such file");
  if (!std::filesystem::is_regular_file(status))
    throw SampleError(name, "cannot read image " + name + ": not a regular file");
  const auto size = std::filesystem::file_size(file, error);
  if (error) throw SampleError(name, "cannot read image " + name + ": " + error.message());
  if (size == 0) throw SampleError(name, "cannot read image " + name + ": the file is empty (0 bytes)");

  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw SampleError(name,
                      "cannot read image " + name + ": the file cannot be opened (check its permissions)");
  std::vector<unsigned char> bytes(size);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
  if (in.gcount() != static_cast<std::streamsize>(size))
    throw SampleError(name, "cannot read image " + name + ": read " + std::to_string(in.gcount()) + " of " +
                                std::to_string(size) + " bytes (was it changed while being read?)");
  return bytes;
}

// OpenCV's flags for a decode that follows `hint`. Only JPEG gets a reduced scale: OpenCV shrinks
// other formats after a full decode, with a linear filter, which is slower and blurrier than
// leaving the size to the resize step. `declared`: what declared_image_size read from the header.
int decode_flags(std::span<const unsigned char> bytes, const std::optional<DeclaredSize>& declared,
                 const DecodeHint& hint) {
  int flags = hint.channels == DecodeHint::Channels::Gray ? cv::IMREAD_GRAYSCALE : cv::IMREAD_ANYCOLOR;
  if (hint.max_bits > 8) flags |= cv::IMREAD_ANYDEPTH;
  if (!hint.reducible() || !looks_like_jpeg(bytes)) return flags;
  if (!declared) return flags;
  switch (hint.reduction_for(static_cast<int>(declared->width), static_cast<int>(declared->height))) { // JPEG: at most 65535
    case 2: return flags | cv::IMREAD_REDUCED_GRAYSCALE_2; // the "grayscale" in the name is the bit that asks 1/2
    case 4: return flags | cv::IMREAD_REDUCED_GRAYSCALE_4;
    case 8: return flags | cv::IMREAD_REDUCED_GRAYSCALE_8;
    default: return flags;
  }
}

} // namespace

bool jpeg_is_complete(std::span<const unsigned char> bytes) {
  std::size_t position = 2; // past the start-of-image marker
  while (position + 1 < bytes.size()) {
    if (bytes[position] != marker_prefix) {
      // Stray bytes between segments: libjpeg skips them too, so do not reject the file for them.
      ++position;
      continue;
    }
    const unsigned char marker = bytes[position + 1];
    if (marker == marker_prefix) { // fill byte before a marker
      ++position;
      continue;
    }
    position += 2;
    if (marker == end_of_image) return true;
    if (is_standalone_marker(marker)) continue;
    if (position + 1 >= bytes.size()) return false;
    const std::size_t length = (std::size_t{bytes[position]} << 8) | bytes[position + 1];
    if (length < 2) return false;
    position += length;
    if (marker == start_of_scan) {
      // Entropy-coded data runs to the next marker; inside it 0xFF is followed only by a stuffed
      // zero or a restart marker.
      while (position + 1 < bytes.size() &&
             !(bytes[position] == marker_prefix && bytes[position + 1] != 0x00 &&
               !is_restart_marker(bytes[position + 1])))
        ++position;
    }
  }
  return false;
}

cv::Mat decode_image_bytes(std::span<const unsigned char> bytes, const std::string& source, std::uint64_t max_pixels,
                           const DecodeHint& hint) {
  if (bytes.empty()) throw SampleError(source, "cannot decode image " + source + ": no data (0 bytes)");
  if (bytes.size() > static_cast<std::size_t>(INT_MAX))
    throw SampleError(source,
                      "cannot decode image " + source + ": larger than 2 GiB, which OpenCV cannot decode");
  // Debian's OpenCV decodes DICOM through GDCM, which aborts the process on malformed files: DICOM
  // goes to the dicom reader, whose decoder runs in a helper process (found by the fuzz target).
  if (looks_like_dicom(bytes))
    throw SampleError(source, "cannot decode image " + source +
                                  ": it is a DICOM file (\"DICM\" at byte 128); read it with the dicom reader");
  if (looks_like_radiance(bytes))
    throw SampleError(source, "cannot decode image " + source +
                                  ": it is a Radiance HDR file, which radpipe does not read (OpenCV's decoder leaks "
                                  "a file handle on every malformed one); convert it to a 32-bit float TIFF");
  if (looks_like_jpeg(bytes) && !jpeg_is_complete(bytes))
    throw SampleError(
        source,
        "cannot decode image " + source +
            ": truncated JPEG (the data ends before the end-of-image marker); re-export or re-copy the file");

  const auto refuse_size = [&](std::uint64_t width, std::uint64_t height, const char* how) {
    throw SampleError(source, "cannot decode image " + source + ": " + how + " " + std::to_string(width) + " x " +
                                  std::to_string(height) + " pixels, more than the reader's max_pixels (" +
                                  std::to_string(max_pixels) + "); raise max_pixels if this really is one radiograph");
  };
  // From the header alone, before any decoder allocates the pixels.
  const std::optional<DeclaredSize> declared = declared_image_size(bytes);
  if (declared && declared->pixels() > max_pixels)
    refuse_size(declared->width, declared->height, "its header declares");

  // imdecode reads through the header without copying; it never writes to its input.
  const cv::Mat encoded(1, static_cast<int>(bytes.size()), CV_8UC1, const_cast<unsigned char*>(bytes.data()));
  cv::Mat decoded;
  try {
    decoded = cv::imdecode(encoded, decode_flags(bytes, declared, hint));
  } catch (const cv::Exception& error) {
    throw SampleError(source, "cannot decode image " + source + ": OpenCV failed: " + error.what());
  }
  if (decoded.empty())
    throw SampleError(source, "cannot decode image " + source +
                                  ": OpenCV found no image in it (not an image, a corrupt one, or a format "
                                  "this OpenCV build lacks)");
  // A format whose header declared_image_size cannot read is held to the limit after decoding.
  if (decoded.total() > max_pixels)
    refuse_size(static_cast<std::uint64_t>(decoded.cols), static_cast<std::uint64_t>(decoded.rows), "it decodes to");

  switch (decoded.depth()) {
    case CV_8U:
    case CV_16U:
    case CV_32F:
      break;
    case CV_64F:
      decoded.convertTo(decoded, CV_32F);
      break;
    default:
      throw SampleError(source, "cannot use image " + source + ": its pixel depth (OpenCV depth " +
                                    std::to_string(decoded.depth()) +
                                    ") is not 8-bit, 16-bit unsigned or float; convert the file");
  }

  cv::Mat converted;
  switch (decoded.channels()) {
    case 1:
      return decoded;
    case 3:
      cv::cvtColor(decoded, converted, cv::COLOR_BGR2RGB);
      return converted;
    case 4:
      cv::cvtColor(decoded, converted, cv::COLOR_BGRA2RGB);
      return converted;
    default:
      throw SampleError(source, "cannot use image " + source + ": it has " +
                                    std::to_string(decoded.channels()) +
                                    " channels; radpipe reads gray, RGB or RGBA images");
  }
}

cv::Mat decode_image_file(const std::filesystem::path& file, std::uint64_t max_pixels,
                           const DecodeHint& hint) {
  const std::vector<unsigned char> bytes = read_file(file);
  return decode_image_bytes(bytes, file.string(), max_pixels, hint);
}

} // namespace radpipe::readers
