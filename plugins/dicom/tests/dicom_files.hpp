// Writes real DICOM files with GDCM for the tests: chosen pixel values, photometric
// interpretation, rescale and window tags, identifiers, and transfer syntax (uncompressed, JPEG
// baseline and lossless, RLE, JPEG 2000).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace radpipe::dicom::testing {

enum class Encoding { Uncompressed, JpegBaseline, JpegLossless, Rle, Jpeg2000Lossless };

// A VOI LUT Sequence item (PS3.3 C.11.2): stored values from first_mapped on index `data`.
struct VoiLutSpec {
  std::uint16_t first_mapped = 0;
  std::uint16_t bits = 8;
  std::vector<std::uint16_t> data;
};

struct DicomSpec {
  int rows = 2;
  int columns = 2;
  int bits_allocated = 16;
  int bits_stored = 16;
  std::vector<std::int32_t> values; // stored values, row-major
  bool monochrome1 = false;
  std::optional<double> rescale_slope, rescale_intercept;
  std::optional<std::pair<double, double>> window; // center, width
  std::optional<VoiLutSpec> voi_lut;
  std::string study_uid = "1.2.826.0.1.3680043.10.543.1";
  std::string patient_id = "P1";
  std::string body_part; // as written in BodyPartExamined
  std::string view;
  std::string pixel_spacing; // as written, e.g. "0.143\\0.150"
  Encoding encoding = Encoding::Uncompressed;
};

void write_dicom(const std::filesystem::path& file, const DicomSpec& spec);

// A DICOM file with patient and study but no pixel data (a report, say).
void write_dicom_without_pixels(const std::filesystem::path& file);

// `rows` x `columns` values rising from 0 in steps of `step`, row-major.
std::vector<std::int32_t> ramp(int rows, int columns, std::int32_t step);

std::filesystem::path shared_dicom(const std::string& name);

} // namespace radpipe::dicom::testing
