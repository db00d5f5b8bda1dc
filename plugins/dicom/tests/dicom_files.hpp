// Writes real DICOM files with GDCM for the tests: chosen pixel values, grayscale or colour in
// several photometric interpretations, 1 to 32 bits, signed or unsigned, float, one or many
// frames, rescale and window tags, identifiers, and transfer syntax (uncompressed, JPEG baseline
// and lossless, RLE, JPEG 2000 lossless and lossy).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace radpipe::dicom::testing {

enum class Encoding { Uncompressed, JpegBaseline, JpegLossless, Rle, Jpeg2000Lossless, Jpeg2000 };

// How the file stores its pixels. For the colour ones the spec gives RGB values and the writer
// encodes them: YBR_FULL by PS3.3 C.7.6.3.1.2's equations, YBR_FULL_422 also halving the chroma
// horizontally (uncompressed) or letting JPEG baseline subsample it; YBR_RCT and YBR_ICT are the
// labels of JPEG 2000 with its reversible and irreversible colour transforms, which the codec
// applies to RGB.
enum class Photometric { Monochrome1, Monochrome2, Rgb, YbrFull, YbrFull422, YbrRct, YbrIct };

// A VOI LUT Sequence item (PS3.3 C.11.2): stored values from first_mapped on index `data`.
struct VoiLutSpec {
  std::uint16_t first_mapped = 0;
  std::uint16_t bits = 8;
  std::vector<std::uint16_t> data;
};

struct DicomSpec {
  int rows = 2;
  int columns = 2;
  int frames = 1;
  int samples = 1; // 3 for the colour photometric interpretations
  int bits_allocated = 16;
  int bits_stored = 16;
  bool is_signed = false;
  // Stored values (RGB for colour), row-major, channel-interleaved, frame after frame.
  std::vector<std::int64_t> values;
  // Float Pixel Data (7FE0,0008; 64 bits: Double Float Pixel Data) instead of `values`.
  std::vector<double> float_values;
  int float_bits = 32;
  Photometric photometric = Photometric::Monochrome2;
  bool planar = false; // uncompressed colour as RRR...GGG...BBB
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
std::vector<std::int64_t> ramp(int rows, int columns, std::int64_t step);

std::filesystem::path shared_dicom(const std::string& name);

} // namespace radpipe::dicom::testing
