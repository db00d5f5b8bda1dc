// What the decoder helper (radpipe-dicom-decoder) sends back to the plugin over its stdout: one
// decoded DICOM image with its metadata, or the reason it could not decode the file.
//
// Wire format: the line "radpipe-dicom-decoder 1", a line of JSON (the metadata, or
// {"error": "..."}), then rows x columns native-endian uint16 pixels. Both ends are built from
// the same source in the same build, so native byte order is safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace radpipe::dicom {

// A decoded grayscale radiograph, in radpipe's convention: bright is dense (bone), and the
// chosen window spans 0..65535.
struct DecodedDicom {
  int rows = 0;
  int columns = 0;
  std::string patient_id;
  std::string study_id;                                  // StudyInstanceUID
  std::string body_part;                                 // BodyPartExamined, lower-case
  std::string view;                                      // ViewPosition
  std::optional<std::array<double, 2>> pixel_spacing_mm; // row, column
  std::map<std::string, std::string> tags;
  std::vector<std::uint16_t> pixels; // row-major, rows x columns
};

struct DecoderReply {
  std::optional<DecodedDicom> image; // set when decoding succeeded
  std::string error;                 // why it failed, otherwise
};

void write_reply(std::ostream& out, const DecodedDicom& image);
void write_failure(std::ostream& out, const std::string& error);

// Parses a complete reply. Throws std::runtime_error saying what is wrong when `bytes` is not
// one (cut short, garbled): the helper died mid-way or is not the matching version.
DecoderReply parse_reply(std::string_view bytes);

} // namespace radpipe::dicom
