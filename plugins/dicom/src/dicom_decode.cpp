#include "dicom_decode.hpp"

#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmStringFilter.h>
#include <gdcmTrace.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iostream>
#include <limits>
#include <sstream>
#include <vector>

#include "dicom_magic.hpp"

namespace radpipe::dicom {
namespace {

constexpr double output_maximum = 65535.0;

const gdcm::Tag pixel_data_tag(0x7fe0, 0x0010);
const gdcm::Tag voi_lut_sequence_tag(0x0028, 0x3010);
const gdcm::Tag lut_descriptor_tag(0x0028, 0x3002);
const gdcm::Tag lut_data_tag(0x0028, 0x3006);

struct KeptTag {
  const char* name;
  std::uint16_t group, element;
};

// Tags copied into SampleInfo::tags as written, for outputs and `radpipe show`.
constexpr KeptTag kept_tags[] = {
    {"Modality", 0x0008, 0x0060},          {"SOPInstanceUID", 0x0008, 0x0018},
    {"SeriesInstanceUID", 0x0020, 0x000e}, {"StudyDate", 0x0008, 0x0020},
    {"Manufacturer", 0x0008, 0x0070},      {"ImageLaterality", 0x0020, 0x0062},
    {"WindowCenter", 0x0028, 0x1050},      {"WindowWidth", 0x0028, 0x1051},
    {"VOILUTFunction", 0x0028, 0x1056},    {"RescaleSlope", 0x0028, 0x1053},
    {"RescaleIntercept", 0x0028, 0x1052},  {"TransferSyntaxUID", 0x0002, 0x0010},
    {"BodyPartExamined", 0x0018, 0x0015},  {"ViewPosition", 0x0018, 0x5101},
};

std::string trimmed(std::string text) {
  const auto keep = [](unsigned char c) { return !std::isspace(c) && c != '\0'; };
  text.erase(std::find_if(text.rbegin(), text.rend(), keep).base(), text.end());
  text.erase(text.begin(), std::find_if(text.begin(), text.end(), keep));
  return text;
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

// The numbers of a multi-valued decimal string ("550\800"); values that do not parse are dropped.
std::vector<double> numbers_of(const std::string& text) {
  std::vector<double> numbers;
  std::stringstream values(text);
  std::string value;
  while (std::getline(values, value, '\\')) {
    value = trimmed(value);
    double number = 0.0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
    if (error == std::errc() && end == value.data() + value.size() && std::isfinite(number))
      numbers.push_back(number);
  }
  return numbers;
}

class TagText {
 public:
  explicit TagText(const gdcm::File& file) { filter_.SetFile(file); }
  std::string operator()(std::uint16_t group, std::uint16_t element) const {
    return trimmed(filter_.ToString(gdcm::Tag(group, element)));
  }

 private:
  gdcm::StringFilter filter_;
};

// A VOI LUT (PS3.3 C.11.2.1.1): modality values from `first_mapped` on index `data`.
struct VoiLut {
  std::int32_t first_mapped = 0;
  int bits = 16;
  std::vector<std::uint16_t> data;
};

std::vector<std::uint16_t> words_of(const gdcm::DataElement& element) {
  std::vector<std::uint16_t> words;
  const gdcm::ByteValue* bytes = element.GetByteValue();
  if (bytes == nullptr) return words;
  words.resize(bytes->GetLength() / 2);
  std::memcpy(words.data(), bytes->GetPointer(), words.size() * 2);
  return words;
}

// The first item of the VOI LUT Sequence, when it holds a usable LUT.
std::optional<VoiLut> voi_lut_of(const gdcm::DataSet& dataset, bool signed_pixels) {
  if (!dataset.FindDataElement(voi_lut_sequence_tag)) return std::nullopt;
  gdcm::SmartPointer<gdcm::SequenceOfItems> sequence =
      dataset.GetDataElement(voi_lut_sequence_tag).GetValueAsSQ();
  if (!sequence || sequence->GetNumberOfItems() == 0) return std::nullopt;
  const gdcm::DataSet& item = sequence->GetItem(1).GetNestedDataSet();
  if (!item.FindDataElement(lut_descriptor_tag) || !item.FindDataElement(lut_data_tag)) return std::nullopt;
  const auto descriptor = words_of(item.GetDataElement(lut_descriptor_tag));
  if (descriptor.size() != 3) return std::nullopt;
  VoiLut lut;
  const std::size_t entries = descriptor[0] == 0 ? 65536 : descriptor[0]; // 0 stands for 2^16
  lut.first_mapped = signed_pixels ? static_cast<std::int16_t>(descriptor[1]) : descriptor[1];
  lut.bits = descriptor[2];
  lut.data = words_of(item.GetDataElement(lut_data_tag));
  if (lut.bits < 1 || lut.bits > 16 || lut.data.size() < entries) return std::nullopt;
  lut.data.resize(entries);
  return lut;
}

// Stored values of the first frame, masked to BitsStored and sign-extended: bits above HighBit
// may hold overlays or garbage that must not reach the pixels.
std::vector<std::int32_t> stored_values(const std::vector<char>& buffer, const gdcm::PixelFormat& format,
                                        std::size_t count) {
  const int bits_stored = format.GetBitsStored();
  const bool is_signed = format.GetPixelRepresentation() == 1;
  const std::uint32_t mask = bits_stored >= 32 ? 0xffffffffu : (1u << bits_stored) - 1u;
  const std::uint32_t sign_bit = 1u << (bits_stored - 1);
  std::vector<std::int32_t> values(count);
  const bool is_16_bit = format.GetBitsAllocated() == 16;
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t raw = 0;
    if (is_16_bit) {
      std::uint16_t word = 0;
      std::memcpy(&word, buffer.data() + 2 * i, 2);
      raw = word;
    } else {
      raw = static_cast<unsigned char>(buffer[i]);
    }
    raw &= mask;
    values[i] = is_signed && (raw & sign_bit)
                    ? static_cast<std::int32_t>(raw) - static_cast<std::int32_t>(mask) - 1
                    : static_cast<std::int32_t>(raw);
  }
  return values;
}

// The stored value below which `percent` of the pixels lie (the lowest value reaching it).
std::int32_t stored_percentile(const std::vector<std::uint64_t>& histogram, std::int32_t minimum,
                               std::size_t count, double percent) {
  const double wanted = std::max(1.0, std::ceil(percent / 100.0 * static_cast<double>(count)));
  std::uint64_t seen = 0;
  for (std::size_t bin = 0; bin < histogram.size(); ++bin) {
    seen += histogram[bin];
    if (static_cast<double>(seen) >= wanted) return minimum + static_cast<std::int32_t>(bin);
  }
  return minimum + static_cast<std::int32_t>(histogram.size()) - 1;
}

// Sends GDCM's warnings to a stream for as long as it lives.
class WarningCapture {
 public:
  explicit WarningCapture(std::ostream& sink) {
    gdcm::Trace::DebugOff();
    gdcm::Trace::WarningOn();
    gdcm::Trace::SetWarningStream(sink);
  }
  ~WarningCapture() {
    gdcm::Trace::SetWarningStream(std::cerr);
    gdcm::Trace::WarningOff();
  }
  WarningCapture(const WarningCapture&) = delete;
  WarningCapture& operator=(const WarningCapture&) = delete;
};

std::string number_text(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

} // namespace

DecodedDicom decode_dicom_file(const std::string& file, const WindowOptions& options) {
  // GDCM's warnings are collected rather than printed: one of them is the only sign of a truncated
  // file, and the rest would clutter the stderr whose tail goes into error messages.
  std::ostringstream warnings;
  const WarningCapture capture(warnings);

  gdcm::ImageReader reader;
  reader.SetFileName(file.c_str());
  if (!reader.Read()) {
    const gdcm::DataSet& dataset = reader.GetFile().GetDataSet();
    const bool marked = has_dicom_magic(file);
    if (dataset.IsEmpty())
      throw DecodeError(marked
                            ? "its DICOM header is damaged (GDCM could not parse it)"
                            : "not a DICOM file (no DICM marker at byte 128, and GDCM could not parse it)");
    if (!dataset.FindDataElement(pixel_data_tag))
      throw DecodeError(std::string("it has no pixel data (7FE0,0010): not an image but a report, structured "
                                    "document or presentation state") +
                        (marked ? "" : "; it also lacks the DICM marker, so it may not be DICOM at all"));
    throw DecodeError("GDCM cannot read its image: the header is inconsistent or the file is truncated");
  }

  const gdcm::Image& image = reader.GetImage();
  const gdcm::File& dicom = reader.GetFile();
  const gdcm::DataSet& dataset = dicom.GetDataSet();
  const TagText tag(dicom);
  const gdcm::PixelFormat& format = image.GetPixelFormat();
  const auto photometric = image.GetPhotometricInterpretation();
  const std::string photometric_name = trimmed(photometric.GetString() ? photometric.GetString() : "");
  const std::string transfer_syntax = tag(0x0002, 0x0010);

  if (format.GetSamplesPerPixel() != 1)
    throw DecodeError("it has " + std::to_string(format.GetSamplesPerPixel()) +
                      " samples per pixel (PhotometricInterpretation " + photometric_name +
                      "); radpipe reads grayscale radiographs (MONOCHROME1 or MONOCHROME2) only");
  const bool inverted = photometric == gdcm::PhotometricInterpretation::MONOCHROME1;
  if (!inverted && photometric != gdcm::PhotometricInterpretation::MONOCHROME2)
    throw DecodeError("its PhotometricInterpretation is " + photometric_name +
                      "; radpipe reads grayscale radiographs (MONOCHROME1 or MONOCHROME2) only");
  const int bits_allocated = format.GetBitsAllocated();
  const int bits_stored = format.GetBitsStored();
  if ((bits_allocated != 8 && bits_allocated != 16) || bits_stored < 1 || bits_stored > bits_allocated)
    throw DecodeError("it has " + std::to_string(bits_stored) + " bits stored in " +
                      std::to_string(bits_allocated) +
                      " allocated; radpipe reads 8- to 16-bit grayscale images");

  const unsigned columns = image.GetDimension(0);
  const unsigned rows = image.GetDimension(1);
  if (rows == 0 || columns == 0) throw DecodeError("its image has no rows or no columns");
  const std::size_t count = std::size_t{rows} * columns;
  std::vector<char> buffer(image.GetBufferLength());
  if (buffer.size() < count * static_cast<std::size_t>(bits_allocated / 8))
    throw DecodeError("its pixel data is shorter than its " + std::to_string(columns) + "x" +
                      std::to_string(rows) + " size needs (truncated file?)");
  // GDCM reads uncompressed pixel data cut short without failing: it pads the rest and only warns.
  if (warnings.str().find("Incomplete Pixel Data") != std::string::npos)
    throw DecodeError("its pixel data stops before the " + std::to_string(columns) + "x" +
                      std::to_string(rows) + " image is complete: the file is truncated");
  if (!image.GetBuffer(buffer.data()))
    throw DecodeError("GDCM could not decode its pixel data (transfer syntax " + transfer_syntax +
                      "): the data is damaged or truncated, or uses a compression GDCM lacks");
  const std::vector<std::int32_t> values = stored_values(buffer, format, count);
  buffer = {};

  const auto [smallest, largest] = std::minmax_element(values.begin(), values.end());
  const std::int32_t stored_min = *smallest, stored_max = *largest;

  // Modality values: RescaleSlope/Intercept turn stored values into physical units.
  const auto slopes = numbers_of(tag(0x0028, 0x1053));
  const auto intercepts = numbers_of(tag(0x0028, 0x1052));
  const double slope = !slopes.empty() && slopes.front() != 0.0 ? slopes.front() : 1.0;
  const double intercept = intercepts.empty() ? 0.0 : intercepts.front();
  const auto modality = [&](std::int32_t stored) { return stored * slope + intercept; };

  // `window` maps a modality value to [0, 1]: 0 shows black, 1 white (before MONOCHROME1 inversion).
  std::function<double(double)> window;
  std::string window_source;
  double window_low = 0.0, window_high = 0.0;
  const auto linear_between = [&](double low, double high) {
    window_low = low;
    window_high = high;
    window = [low, high](double x) {
      return high > low ? (x - low) / (high - low) : (x >= high ? 1.0 : 0.0);
    };
  };

  const auto centers = numbers_of(tag(0x0028, 0x1050));
  const auto widths = numbers_of(tag(0x0028, 0x1051));
  const std::optional<VoiLut> voi_lut = options.mode == WindowMode::Tags
                                            ? voi_lut_of(dataset, format.GetPixelRepresentation() == 1)
                                            : std::nullopt;
  if (voi_lut) {
    window_source = "voi_lut";
    const double lut_maximum = std::ldexp(1.0, voi_lut->bits) - 1.0;
    window_low = voi_lut->first_mapped;
    window_high = voi_lut->first_mapped + static_cast<double>(voi_lut->data.size()) - 1.0;
    window = [lut = *voi_lut, lut_maximum](double x) {
      const double index =
          std::clamp(std::round(x) - lut.first_mapped, 0.0, static_cast<double>(lut.data.size() - 1));
      return lut.data[static_cast<std::size_t>(index)] / lut_maximum;
    };
  } else if (options.mode == WindowMode::Tags && !centers.empty() && !widths.empty() &&
             widths.front() > 0.0) {
    const double center = centers.front(), width = widths.front();
    const std::string function = tag(0x0028, 0x1056);
    window_source = "window_tags";
    if (function == "SIGMOID") {
      window_low = center - width / 2.0;
      window_high = center + width / 2.0;
      window = [center, width](double x) { return 1.0 / (1.0 + std::exp(-4.0 * (x - center) / width)); };
    } else if (function == "LINEAR_EXACT") {
      linear_between(center - width / 2.0, center + width / 2.0);
    } else {
      // LINEAR (the default): PS3.3 C.11.2.1.2.1, whose half-pixel offsets make a width of 1 a
      // threshold at center - 0.5.
      window_low = center - 0.5 - (width - 1.0) / 2.0;
      window_high = center - 0.5 + (width - 1.0) / 2.0;
      window = [center, width](double x) {
        if (x <= center - 0.5 - (width - 1.0) / 2.0) return 0.0;
        if (x > center - 0.5 + (width - 1.0) / 2.0) return 1.0;
        return (x - (center - 0.5)) / (width - 1.0) + 0.5;
      };
    }
  } else if (options.mode == WindowMode::Percentile) {
    window_source = "percentile";
    std::vector<std::uint64_t> histogram(static_cast<std::size_t>(stored_max - stored_min) + 1);
    for (const auto value : values) ++histogram[static_cast<std::size_t>(value - stored_min)];
    const double low = modality(stored_percentile(histogram, stored_min, count, options.low_percentile));
    const double high = modality(stored_percentile(histogram, stored_min, count, options.high_percentile));
    linear_between(std::min(low, high), std::max(low, high));
  } else {
    window_source = options.mode == WindowMode::Tags ? "full (no window tags)" : "full";
    linear_between(std::min(modality(stored_min), modality(stored_max)),
                   std::max(modality(stored_min), modality(stored_max)));
  }

  // One table entry per stored value present: the window runs once per distinct value, not per pixel.
  std::vector<std::uint16_t> table(static_cast<std::size_t>(stored_max - stored_min) + 1);
  for (std::size_t i = 0; i < table.size(); ++i) {
    double shade = std::clamp(window(modality(stored_min + static_cast<std::int32_t>(i))), 0.0, 1.0);
    if (inverted) shade = 1.0 - shade; // MONOCHROME1: low values are bright
    table[i] = static_cast<std::uint16_t>(std::lround(shade * output_maximum));
  }

  DecodedDicom decoded;
  decoded.rows = static_cast<int>(rows);
  decoded.columns = static_cast<int>(columns);
  decoded.pixels.resize(count);
  for (std::size_t i = 0; i < count; ++i)
    decoded.pixels[i] = table[static_cast<std::size_t>(values[i] - stored_min)];

  decoded.patient_id = tag(0x0010, 0x0020);
  decoded.study_id = tag(0x0020, 0x000d);
  decoded.body_part = lower(tag(0x0018, 0x0015));
  decoded.view = tag(0x0018, 0x5101);
  // PixelSpacing describes the patient plane; projection radiographs often only carry the
  // detector's ImagerPixelSpacing. Zeros mean "unknown" in files seen in practice.
  for (const auto& [group, element] : {std::pair{0x0028, 0x0030}, std::pair{0x0018, 0x1164}}) {
    const auto spacing =
        numbers_of(tag(static_cast<std::uint16_t>(group), static_cast<std::uint16_t>(element)));
    if (spacing.size() == 2 && spacing[0] > 0.0 && spacing[1] > 0.0) {
      decoded.pixel_spacing_mm = std::array<double, 2>{spacing[0], spacing[1]};
      break;
    }
  }

  auto& tags = decoded.tags;
  for (const auto& [name, group, element] : kept_tags)
    if (auto text = tag(group, element); !text.empty()) tags[name] = std::move(text);
  tags["PhotometricInterpretation"] = photometric_name;
  tags["BitsAllocated"] = std::to_string(bits_allocated);
  tags["BitsStored"] = std::to_string(bits_stored);
  tags["PixelRepresentation"] = std::to_string(format.GetPixelRepresentation());
  if (image.GetNumberOfDimensions() > 2 && image.GetDimension(2) > 1)
    tags["NumberOfFrames"] = std::to_string(image.GetDimension(2)) + " (first frame read)";
  // What radpipe did: the stored range, and which modality values became black and white.
  tags["stored_min"] = std::to_string(stored_min);
  tags["stored_max"] = std::to_string(stored_max);
  tags["window_source"] = window_source;
  tags["window_low"] = number_text(window_low);
  tags["window_high"] = number_text(window_high);
  return decoded;
}

} // namespace radpipe::dicom
