#include "dicom_decode.hpp"

#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmPhotometricInterpretation.h>
#include <gdcmReader.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmStringFilter.h>
#include <gdcmTrace.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <limits>
#include <opencv2/imgproc.hpp>
#include <set>
#include <sstream>
#include <type_traits>
#include <vector>

#include "dicom_magic.hpp"

namespace radpipe::dicom {
// Types the decoder keeps between calls (in a named namespace, as DicomDecoder::LoadedFile holds them).
namespace decoding {

const gdcm::Tag pixel_data_tag(0x7fe0, 0x0010);
const gdcm::Tag float_pixel_data_tag(0x7fe0, 0x0008);
const gdcm::Tag double_float_pixel_data_tag(0x7fe0, 0x0009);
const gdcm::Tag voi_lut_sequence_tag(0x0028, 0x3010);
const gdcm::Tag lut_descriptor_tag(0x0028, 0x3002);
const gdcm::Tag lut_data_tag(0x0028, 0x3006);

// A stored range up to this many values is mapped through a table, one entry per value.
constexpr std::int64_t largest_table = std::int64_t{1} << 20;

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

// The shortest text that reads back as `value`: "999.5", "4294967295", "1e+20".
std::string number_text(double value) {
  std::array<char, 32> text{};
  const auto [end, error] = std::to_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() ? std::string(text.data(), end) : std::string("?");
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

// Which file a path names now, so that a cached decode is not reused for a file replaced since.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t modified_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};

std::optional<FileIdentity> identity_of(const std::string& file) {
  struct stat status {};
  if (::stat(file.c_str(), &status) != 0) return std::nullopt;
  return FileIdentity{status.st_dev, status.st_ino, status.st_size,
                      std::int64_t{status.st_mtim.tv_sec} * 1'000'000'000 + status.st_mtim.tv_nsec};
}

enum class Photometric { Monochrome1, Monochrome2, Rgb, YbrFull };

// The layout of a file's decoded pixel buffer.
struct FrameLayout {
  unsigned rows = 0, columns = 0, frames = 1;
  int samples = 1;
  int bits_allocated = 16, bits_stored = 16, high_bit = 15;
  bool is_signed = false;
  bool is_float = false; // 32- or 64-bit IEEE floats (bits_allocated says which)
  bool planar = false;   // RRR...GGG...BBB rather than RGBRGB...
  Photometric photometric = Photometric::Monochrome2;
  std::string photometric_name; // as the file writes it

  std::size_t pixels_per_frame() const { return std::size_t{rows} * columns; }
  std::size_t samples_per_frame() const { return pixels_per_frame() * static_cast<std::size_t>(samples); }
  // The bits one frame occupies; 1-bit frames are packed and need not start on a byte.
  std::uint64_t bits_per_frame() const {
    return std::uint64_t{samples_per_frame()} * static_cast<std::uint64_t>(bits_allocated);
  }
  bool is_colour() const { return samples == 3; }
  // Whether a 32-bit unsigned value may not fit an int32.
  bool needs_wide_values() const { return is_float || (bits_stored == 32 && !is_signed); }
};

std::optional<Photometric> photometric_of(const gdcm::PhotometricInterpretation& photometric) {
  switch (photometric) {
    case gdcm::PhotometricInterpretation::MONOCHROME1:
      return Photometric::Monochrome1;
    case gdcm::PhotometricInterpretation::MONOCHROME2:
      return Photometric::Monochrome2;
    // JPEG 2000 decoders undo the colour transform that YBR_RCT and YBR_ICT name, so GDCM hands
    // these over as RGB.
    case gdcm::PhotometricInterpretation::RGB:
    case gdcm::PhotometricInterpretation::YBR_RCT:
    case gdcm::PhotometricInterpretation::YBR_ICT:
      return Photometric::Rgb;
    // GDCM upsamples YBR_FULL_422's chroma (compressed or not) and hands it over as YBR_FULL.
    case gdcm::PhotometricInterpretation::YBR_FULL:
    case gdcm::PhotometricInterpretation::YBR_FULL_422:
      return Photometric::YbrFull;
    default:
      return std::nullopt;
  }
}

} // namespace decoding

using namespace decoding;

// A file read and its pixel data decoded (every frame), kept whole while its frames are read.
struct DicomDecoder::LoadedFile {
  std::string path;
  std::optional<FileIdentity> identity;
  gdcm::ImageReader reader; // owns the dataset: the tags come from it
  FrameLayout format;
  std::string transfer_syntax;
  std::vector<char> pixels; // every frame as GDCM decoded it, native byte order
};

namespace {

[[noreturn]] void refuse_layout(const FrameLayout& format, const std::string& why) {
  throw DecodeError("it has " + std::to_string(format.samples) + " sample(s) per pixel, " +
                    std::to_string(format.bits_stored) + " bits stored in " +
                    std::to_string(format.bits_allocated) + " allocated (PhotometricInterpretation " +
                    format.photometric_name + "); " + why);
}

void check_layout(const FrameLayout& format) {
  if (format.rows == 0 || format.columns == 0) throw DecodeError("its image has no rows or no columns");
  if (format.frames == 0) throw DecodeError("its image has no frames");
  if (format.samples != 1 && format.samples != 3)
    refuse_layout(format, "radpipe reads grayscale (1 sample) and colour (3 samples) images");
  if (format.is_float) {
    if (format.bits_allocated != 32 && format.bits_allocated != 64)
      refuse_layout(format, "float pixels must be 32 or 64 bits");
    if (format.is_colour()) refuse_layout(format, "radpipe reads float pixels in grayscale images only");
    return;
  }
  const int allocated = format.bits_allocated;
  if (allocated != 1 && allocated != 8 && allocated != 16 && allocated != 32)
    refuse_layout(format, "radpipe reads 1, 8, 16 or 32 bits allocated");
  if (format.bits_stored < 1 || format.bits_stored > allocated || format.high_bit < format.bits_stored - 1 ||
      format.high_bit >= allocated)
    refuse_layout(format, "BitsStored, BitsAllocated and HighBit contradict each other");
  if (format.is_colour() && allocated != 8 && allocated != 16)
    refuse_layout(format, "radpipe reads colour images of 8 or 16 bits allocated");
}

// Stored values of one frame, channel-interleaved: masked to the BitsStored bits that end at
// HighBit (bits beside them may hold overlays or garbage that must not reach the pixels) and
// sign-extended. `Value` is int32_t, or double where a 32-bit unsigned value may not fit.
template <typename Value, typename Raw>
void read_integers(const char* data, const FrameLayout& format, std::size_t frame_index,
                   std::vector<Value>& values) {
  const std::size_t count = format.samples_per_frame();
  const int shift = format.high_bit + 1 - format.bits_stored;
  const std::uint64_t mask = (std::uint64_t{1} << format.bits_stored) - 1;
  const std::uint64_t sign_bit = std::uint64_t{1} << (format.bits_stored - 1);
  const char* frame = data + frame_index * count * sizeof(Raw);
  values.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    Raw raw;
    std::memcpy(&raw, frame + i * sizeof(Raw), sizeof(Raw));
    const std::uint64_t bits = (static_cast<std::uint64_t>(raw) >> shift) & mask;
    const std::int64_t value = format.is_signed && (bits & sign_bit)
                                   ? static_cast<std::int64_t>(bits) - static_cast<std::int64_t>(mask) - 1
                                   : static_cast<std::int64_t>(bits);
    values[i] = static_cast<Value>(value);
  }
}

// 1-bit pixels are packed eight to a byte, the first in the least significant bit (PS3.5 8.1.1),
// and frames follow one another without padding.
void read_bits(const char* data, const FrameLayout& format, std::size_t frame_index,
               std::vector<std::int32_t>& values) {
  const std::size_t count = format.samples_per_frame();
  const std::uint64_t first = std::uint64_t{frame_index} * count;
  values.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint64_t bit = first + i;
    values[i] = (static_cast<unsigned char>(data[bit / 8]) >> (bit % 8)) & 1;
  }
}

template <typename Float>
void read_floats(const char* data, const FrameLayout& format, std::size_t frame_index,
                 std::vector<double>& values) {
  const std::size_t count = format.samples_per_frame();
  const char* frame = data + frame_index * count * sizeof(Float);
  values.resize(count);
  for (std::size_t i = 0; i < count; ++i) {
    Float value;
    std::memcpy(&value, frame + i * sizeof(Float), sizeof(Float));
    values[i] = static_cast<double>(value);
  }
}

template <typename Value>
void read_frame(const std::vector<char>& pixels, const FrameLayout& format, std::size_t frame_index,
                std::vector<Value>& values) {
  if constexpr (std::is_same_v<Value, double>) {
    if (format.is_float) {
      if (format.bits_allocated == 32)
        read_floats<float>(pixels.data(), format, frame_index, values);
      else
        read_floats<double>(pixels.data(), format, frame_index, values);
      return;
    }
  } else {
    if (format.bits_allocated == 1) {
      read_bits(pixels.data(), format, frame_index, values);
      return;
    }
  }
  switch (format.bits_allocated) {
    case 8:
      read_integers<Value, std::uint8_t>(pixels.data(), format, frame_index, values);
      break;
    case 16:
      read_integers<Value, std::uint16_t>(pixels.data(), format, frame_index, values);
      break;
    default:
      read_integers<Value, std::uint32_t>(pixels.data(), format, frame_index, values);
      break;
  }
}

// RRR...GGG...BBB to RGBRGB...
template <typename Value>
void interleave(std::vector<Value>& values, std::size_t pixels) {
  std::vector<Value> interleaved(values.size());
  for (std::size_t i = 0; i < pixels; ++i)
    for (std::size_t channel = 0; channel < 3; ++channel)
      interleaved[i * 3 + channel] = values[channel * pixels + i];
  values = std::move(interleaved);
}

// YBR_FULL to RGB, the inverse of PS3.3 C.7.6.3.1.2's equations, at the stored bit depth.
void ybr_full_to_rgb(std::vector<std::int32_t>& values, int bits_stored) {
  const double middle = std::ldexp(1.0, bits_stored - 1);
  const double top = std::ldexp(1.0, bits_stored) - 1.0;
  const auto clamped = [top](double value) {
    return static_cast<std::int32_t>(std::lround(std::clamp(value, 0.0, top)));
  };
  for (std::size_t i = 0; i + 2 < values.size(); i += 3) {
    const double y = values[i], blue = values[i + 1] - middle, red = values[i + 2] - middle;
    values[i] = clamped(y + 1.402 * red);
    values[i + 1] = clamped(y - 0.344136 * blue - 0.714136 * red);
    values[i + 2] = clamped(y + 1.772 * blue);
  }
}

// The value below which `percent` of the values lie (the lowest value reaching it).
template <typename Value>
double percentile_of(const std::vector<Value>& values, Value minimum, Value maximum, double percent) {
  const std::size_t count = values.size();
  const double wanted = std::max(1.0, std::ceil(percent / 100.0 * static_cast<double>(count)));
  if constexpr (std::is_same_v<Value, std::int32_t>) {
    const std::int64_t range = std::int64_t{maximum} - minimum + 1;
    if (range <= largest_table) {
      std::vector<std::uint64_t> histogram(static_cast<std::size_t>(range));
      for (const auto value : values) ++histogram[static_cast<std::size_t>(value - minimum)];
      std::uint64_t seen = 0;
      for (std::size_t bin = 0; bin < histogram.size(); ++bin) {
        seen += histogram[bin];
        if (static_cast<double>(seen) >= wanted)
          return static_cast<double>(minimum + static_cast<std::int64_t>(bin));
      }
      return maximum;
    }
  }
  std::vector<Value> finite;
  finite.reserve(count);
  for (const auto value : values)
    if (std::isfinite(static_cast<double>(value))) finite.push_back(value);
  if (finite.empty()) return 0.0;
  const auto rank = std::min(finite.size() - 1, static_cast<std::size_t>(wanted) - 1);
  std::nth_element(finite.begin(), finite.begin() + static_cast<std::ptrdiff_t>(rank), finite.end());
  return static_cast<double>(finite[rank]);
}

// What the window turned into: modality value -> shade in [0, 1], and what to report about it.
struct Window {
  std::function<double(double)> shade;
  std::string source;
  double low = 0.0, high = 0.0;
  bool stored = false; // the stored range, so that at most 8 stored bits come out as 8 bits
};

Window linear_window(double low, double high, std::string source) {
  Window window;
  window.low = low;
  window.high = high;
  window.source = std::move(source);
  window.shade = [low, high](double x) {
    return high > low ? (x - low) / (high - low) : (x >= high ? 1.0 : 0.0);
  };
  return window;
}

struct Modality {
  double slope = 1.0, intercept = 0.0;
  double operator()(double stored) const { return stored * slope + intercept; }
};

// The range the stored bits can hold, in modality values; 0..1 for float pixels.
Window stored_window(const FrameLayout& format, const Modality& modality, std::string source) {
  double low = 0.0, high = 1.0;
  if (!format.is_float) {
    low = format.is_signed ? -std::ldexp(1.0, format.bits_stored - 1) : 0.0;
    high = low + std::ldexp(1.0, format.bits_stored) - 1.0;
  }
  Window window = linear_window(std::min(modality(low), modality(high)),
                                std::max(modality(low), modality(high)), std::move(source));
  window.stored = true;
  return window;
}

template <typename Value>
Window choose_window(const std::vector<Value>& values, Value minimum, Value maximum,
                     const FrameLayout& format, const Modality& modality, const DecodeOptions& options,
                     const gdcm::DataSet& dataset, const TagText& tag) {
  const auto full = [&](std::string source) {
    return linear_window(std::min(modality(minimum), modality(maximum)),
                         std::max(modality(minimum), modality(maximum)), std::move(source));
  };
  switch (options.window) {
    case WindowMode::Stored:
      return stored_window(format, modality, "stored");
    case WindowMode::Full:
      return full("full");
    case WindowMode::Percentile: {
      const double low = modality(percentile_of(values, minimum, maximum, options.low_percentile));
      const double high = modality(percentile_of(values, minimum, maximum, options.high_percentile));
      return linear_window(std::min(low, high), std::max(low, high), "percentile");
    }
    case WindowMode::Tags:
      break;
  }
  if (!format.is_colour()) {
    if (const auto voi_lut = voi_lut_of(dataset, format.is_signed)) {
      Window window;
      window.source = "voi_lut";
      window.low = voi_lut->first_mapped;
      window.high = voi_lut->first_mapped + static_cast<double>(voi_lut->data.size()) - 1.0;
      const double lut_maximum = std::ldexp(1.0, voi_lut->bits) - 1.0;
      window.shade = [lut = *voi_lut, lut_maximum](double x) {
        const double index =
            std::clamp(std::round(x) - lut.first_mapped, 0.0, static_cast<double>(lut.data.size() - 1));
        return lut.data[static_cast<std::size_t>(index)] / lut_maximum;
      };
      return window;
    }
    const auto centers = numbers_of(tag(0x0028, 0x1050));
    const auto widths = numbers_of(tag(0x0028, 0x1051));
    if (!centers.empty() && !widths.empty() && widths.front() > 0.0) {
      const double center = centers.front(), width = widths.front();
      const std::string function = tag(0x0028, 0x1056);
      if (function == "LINEAR_EXACT")
        return linear_window(center - width / 2.0, center + width / 2.0, "window_tags");
      Window window;
      window.source = "window_tags";
      if (function == "SIGMOID") {
        window.low = center - width / 2.0;
        window.high = center + width / 2.0;
        window.shade = [center, width](double x) {
          return 1.0 / (1.0 + std::exp(-4.0 * (x - center) / width));
        };
      } else {
        // LINEAR (the default): PS3.3 C.11.2.1.2.1, whose half-pixel offsets make a width of 1 a
        // threshold at center - 0.5.
        window.low = center - 0.5 - (width - 1.0) / 2.0;
        window.high = center - 0.5 + (width - 1.0) / 2.0;
        window.shade = [center, width](double x) {
          if (x <= center - 0.5 - (width - 1.0) / 2.0) return 0.0;
          if (x > center - 0.5 + (width - 1.0) / 2.0) return 1.0;
          return (x - (center - 0.5)) / (width - 1.0) + 0.5;
        };
      }
      return window;
    }
  }
  // No window in the file. Pixels of 8 bits or fewer, and colour pixels, are display-ready:
  // secondary captures, scanned films and converted JPEGs, meant to be shown as stored. Wider
  // grayscale pixels are raw detector data, whose stored range can be far wider than its values.
  if (format.is_colour() || (!format.is_float && format.bits_stored <= 8))
    return stored_window(format, modality, "stored (no window tags)");
  return full("full (no window tags)");
}

// Shade in [0, 1] to an output value of full scale `top`; NaN (float pixels) becomes black.
template <typename Out>
Out quantised(double shade, double top) {
  if (!(shade > 0.0)) return 0;
  return static_cast<Out>(std::lround(std::min(shade, 1.0) * top));
}

template <typename Out, typename Value>
void map_values(const std::vector<Value>& values, Value minimum, Value maximum, const Modality& modality,
                const Window& window, bool inverted, Out* out) {
  const double top = std::numeric_limits<Out>::max();
  const auto shade = [&](double stored) {
    const double value = window.shade(modality(stored));
    return inverted ? 1.0 - value : value; // MONOCHROME1: low values are bright
  };
  if constexpr (std::is_same_v<Value, std::int32_t>) {
    const std::int64_t range = std::int64_t{maximum} - minimum + 1;
    if (range <= largest_table) {
      // One table entry per stored value present: the window runs once per distinct value, not per pixel.
      std::vector<Out> table(static_cast<std::size_t>(range));
      for (std::size_t i = 0; i < table.size(); ++i)
        table[i] = quantised<Out>(shade(static_cast<double>(minimum + static_cast<std::int64_t>(i))), top);
      for (std::size_t i = 0; i < values.size(); ++i)
        out[i] = table[static_cast<std::size_t>(values[i] - minimum)];
      return;
    }
  }
  for (std::size_t i = 0; i < values.size(); ++i)
    out[i] = quantised<Out>(shade(static_cast<double>(values[i])), top);
}

cv::Mat allocated(const PixelAllocator& allocate, int rows, int columns, int type) {
  cv::Mat image = allocate ? allocate(rows, columns, type) : cv::Mat(rows, columns, type);
  if (image.rows != rows || image.cols != columns || image.type() != type || !image.isContinuous())
    throw std::logic_error("the pixel allocator returned a matrix of another shape");
  return image;
}

// A frame mapped to output pixels, and what to report about how.
struct MappedFrame {
  cv::Mat image;
  Window window;
  std::string stored_min, stored_max;
};

template <typename Value>
MappedFrame mapped_frame(const std::vector<Value>& values, const FrameLayout& format,
                         const Modality& modality, const DecodeOptions& options, const gdcm::DataSet& dataset,
                         const TagText& tag, const PixelAllocator& allocate) {
  Value minimum = values.front(), maximum = values.front();
  bool seen = false;
  for (const auto value : values) {
    if constexpr (std::is_same_v<Value, double>)
      if (!std::isfinite(value)) continue;
    if (!seen || value < minimum) minimum = value;
    if (!seen || value > maximum) maximum = value;
    seen = true;
  }
  if (!seen) minimum = maximum = Value{};
  MappedFrame result;
  Window& window = result.window;
  window = choose_window(values, minimum, maximum, format, modality, options, dataset, tag);
  if constexpr (std::is_same_v<Value, double>) {
    result.stored_min = number_text(minimum);
    result.stored_max = number_text(maximum);
  } else {
    result.stored_min = std::to_string(minimum);
    result.stored_max = std::to_string(maximum);
  }

  const bool eight_bits = window.stored && !format.is_float && format.bits_stored <= 8;
  const int depth = eight_bits ? CV_8U : CV_16U;
  const bool inverted = format.photometric == Photometric::Monochrome1;
  const int rows = static_cast<int>(format.rows), columns = static_cast<int>(format.columns);
  const bool to_luma = format.is_colour() && options.color == ColorMode::Luma;

  cv::Mat mapped = to_luma ? cv::Mat(rows, columns, CV_MAKETYPE(depth, 3))
                           : allocated(allocate, rows, columns, CV_MAKETYPE(depth, format.samples));
  if (eight_bits)
    map_values(values, minimum, maximum, modality, window, inverted, mapped.ptr<std::uint8_t>());
  else
    map_values(values, minimum, maximum, modality, window, inverted, mapped.ptr<std::uint16_t>());
  if (!to_luma) {
    result.image = std::move(mapped);
    return result;
  }
  // The same conversion as the grayscale transform's, so that a colour DICOM reaches the model as
  // the same pixels in an RGB image file do.
  cv::Mat luma = allocated(allocate, rows, columns, CV_MAKETYPE(depth, 1));
  const uchar* destination = luma.data;
  cv::cvtColor(mapped, luma, cv::COLOR_RGB2GRAY);
  if (luma.data != destination) throw std::logic_error("cvtColor reallocated the output");
  result.image = std::move(luma);
  return result;
}

// GDCM's image reader decodes RLE pixel data while it reads the file (to tell lossy from
// lossless), and aborts on 8- or 32-bit samples with fewer bits stored than allocated: such files
// are refused from their header before it sees them.
void refuse_what_gdcm_aborts_on(const std::string& file) {
  gdcm::Reader header;
  header.SetFileName(file.c_str());
  if (!header.ReadUpToTag(gdcm::Tag(0x0028, 0x0104), std::set<gdcm::Tag>{}))
    return; // what is wrong with it, the image reader says
  if (header.GetFile().GetHeader().GetDataSetTransferSyntax() != gdcm::TransferSyntax::RLELossless) return;
  const TagText tag(header.GetFile());
  const auto allocated = numbers_of(tag(0x0028, 0x0100)), stored = numbers_of(tag(0x0028, 0x0101));
  if (allocated.empty() || stored.empty()) return;
  if ((allocated.front() == 8 || allocated.front() == 32) && stored.front() < allocated.front())
    throw DecodeError(
        "it has " + number_text(stored.front()) + " bits stored in " + number_text(allocated.front()) +
        " allocated, RLE-compressed, which GDCM cannot decode without aborting; re-encode the file "
        "uncompressed");
}

// Reads what GDCM's image reader found: the layout, then every frame's pixels decoded.
void read_image(DicomDecoder::LoadedFile& loaded, const std::string& warnings) {
  FrameLayout& format = loaded.format;
  gdcm::Image& image = loaded.reader.GetImage();
  const gdcm::PixelFormat& pixel_format = image.GetPixelFormat();
  format.columns = image.GetDimension(0);
  format.rows = image.GetDimension(1);
  format.frames = image.GetNumberOfDimensions() > 2 ? image.GetDimension(2) : 1;
  format.samples = pixel_format.GetSamplesPerPixel();
  format.bits_allocated = pixel_format.GetBitsAllocated();
  format.bits_stored = pixel_format.GetBitsStored();
  format.high_bit = pixel_format.GetHighBit();
  format.is_signed = pixel_format.GetPixelRepresentation() == 1;
  const auto scalar = pixel_format.GetScalarType();
  format.is_float = scalar == gdcm::PixelFormat::FLOAT32 || scalar == gdcm::PixelFormat::FLOAT64;
  if (format.is_float) format.high_bit = format.bits_stored - 1;
  const auto photometric = image.GetPhotometricInterpretation();
  format.photometric_name = trimmed(photometric.GetString() ? photometric.GetString() : "");
  check_layout(format);
  const auto check_photometric = [&](const gdcm::PhotometricInterpretation& named) {
    const auto known = photometric_of(named);
    if (!known)
      refuse_layout(format,
                    "radpipe reads MONOCHROME1, MONOCHROME2, RGB, YBR_FULL, YBR_FULL_422, YBR_RCT and "
                    "YBR_ICT images");
    const bool colour = *known == Photometric::Rgb || *known == Photometric::YbrFull;
    if (colour != format.is_colour())
      refuse_layout(format, "its PhotometricInterpretation does not match its samples per pixel");
    return *known;
  };
  format.photometric = check_photometric(photometric);

  // GDCM reads uncompressed pixel data cut short without failing: it pads the rest and only warns.
  if (warnings.find("Incomplete Pixel Data") != std::string::npos)
    throw DecodeError("its pixel data stops before the " + std::to_string(format.columns) + "x" +
                      std::to_string(format.rows) + "x" + std::to_string(format.frames) +
                      " image is complete: the file is truncated");
  if ((format.bits_allocated == 8 || format.bits_allocated == 32) &&
      format.bits_stored < format.bits_allocated && !format.is_float) {
    // GDCM 3.0 aborts (assertions in gdcmImageCodec.cxx) cleaning the bits beside BitsStored out
    // of 8- and 32-bit samples. Told that every allocated bit is stored, its codecs hand the
    // samples over as they are, and read_integers() masks them as it does all others. (Its RLE
    // codec aborts while the file is read: refuse_what_gdcm_aborts_on() stops those earlier.)
    gdcm::PixelFormat whole = image.GetPixelFormat();
    whole.SetBitsStored(static_cast<unsigned short>(format.bits_allocated));
    whole.SetHighBit(static_cast<unsigned short>(format.bits_allocated - 1));
    image.SetPixelFormat(whole);
  }
  const std::uint64_t needed = (std::uint64_t{format.frames} * format.bits_per_frame() + 7) / 8;
  loaded.pixels.resize(std::max<std::uint64_t>(image.GetBufferLength(), needed));
  if (image.GetBufferLength() < needed)
    throw DecodeError("its pixel data is shorter than its " + std::to_string(format.columns) + "x" +
                      std::to_string(format.rows) + "x" + std::to_string(format.frames) +
                      " size needs (truncated file?)");
  if (!image.GetBuffer(loaded.pixels.data()))
    throw DecodeError("GDCM could not decode its pixel data (transfer syntax " + loaded.transfer_syntax +
                      "): the data is damaged or truncated, or uses a compression GDCM lacks");
  // Decoding may change both: codecs hand colour over interleaved, and some convert colour spaces.
  format.planar = image.GetPlanarConfiguration() == 1 && format.is_colour();
  format.photometric = check_photometric(image.GetPhotometricInterpretation());
}

} // namespace

DicomDecoder::DicomDecoder() = default;
DicomDecoder::~DicomDecoder() = default;

int DicomDecoder::count_frames(const std::string& file) {
  std::ostringstream warnings;
  const WarningCapture capture(warnings);
  gdcm::Reader reader;
  reader.SetFileName(file.c_str());
  // The header up to NumberOfFrames (0028,0008), not the pixel data after it.
  const std::set<gdcm::Tag> skipped;
  const bool read = reader.ReadUpToTag(gdcm::Tag(0x0028, 0x0009), skipped);
  if (!read && reader.GetFile().GetDataSet().IsEmpty())
    throw DecodeError(has_dicom_magic(file)
                          ? "its DICOM header is damaged (GDCM could not parse it)"
                          : "not a DICOM file (no DICM marker at byte 128, and GDCM could not parse it)");
  const TagText tag(reader.GetFile());
  const auto frames = numbers_of(tag(0x0028, 0x0008));
  if (frames.empty() || frames.front() < 1.0) return 1;
  const auto identity = identity_of(file);
  // Each frame takes at least a byte; a count beyond that is a damaged or hostile header, which
  // would otherwise list billions of samples.
  if (identity && frames.front() > static_cast<double>(identity->size))
    throw DecodeError("its NumberOfFrames (" + number_text(frames.front()) + ") is more than its " +
                      std::to_string(identity->size) + " bytes can hold");
  if (frames.front() > std::numeric_limits<int>::max())
    throw DecodeError("its NumberOfFrames (" + number_text(frames.front()) + ") is implausible");
  return static_cast<int>(frames.front());
}

std::shared_ptr<const DicomDecoder::LoadedFile> DicomDecoder::load(const std::string& file) {
  const auto identity = identity_of(file);
  if (cached_ && cached_->path == file && identity && cached_->identity == identity) return cached_;
  cached_.reset(); // before decoding the next file, so that two never take memory at once

  // GDCM's warnings are collected rather than printed: one of them is the only sign of a truncated
  // file, and the rest would clutter the stderr whose tail goes into error messages.
  std::ostringstream warnings;
  const WarningCapture capture(warnings);

  refuse_what_gdcm_aborts_on(file);
  auto loaded = std::make_shared<LoadedFile>();
  loaded->path = file;
  loaded->identity = identity;
  gdcm::ImageReader& reader = loaded->reader;
  reader.SetFileName(file.c_str());
  const bool read = reader.Read();
  const gdcm::File& dicom = reader.GetFile();
  const gdcm::DataSet& dataset = dicom.GetDataSet();
  const TagText tag(dicom);
  loaded->transfer_syntax = tag(0x0002, 0x0010);
  FrameLayout& format = loaded->format;

  const bool float_pixels =
      dataset.FindDataElement(float_pixel_data_tag) || dataset.FindDataElement(double_float_pixel_data_tag);
  if (!read && !float_pixels) {
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

  if (!read) {
    // Float Pixel Data (parametric maps and some processed images): GDCM's image reader does not
    // take it, but it is never compressed, so its bytes are the pixels.
    const bool doubles = dataset.FindDataElement(double_float_pixel_data_tag);
    const gdcm::DataElement& element =
        dataset.GetDataElement(doubles ? double_float_pixel_data_tag : float_pixel_data_tag);
    const gdcm::ByteValue* bytes = element.GetByteValue();
    if (bytes == nullptr) throw DecodeError("its Float Pixel Data is empty or encapsulated");
    const auto first_number = [&](std::uint16_t group, std::uint16_t element_number, double fallback) {
      const auto numbers = numbers_of(tag(group, element_number));
      return numbers.empty() ? fallback : numbers.front();
    };
    format.rows = static_cast<unsigned>(std::max(0.0, first_number(0x0028, 0x0010, 0.0)));
    format.columns = static_cast<unsigned>(std::max(0.0, first_number(0x0028, 0x0011, 0.0)));
    format.frames = static_cast<unsigned>(std::max(1.0, first_number(0x0028, 0x0008, 1.0)));
    format.samples = static_cast<int>(first_number(0x0028, 0x0002, 1.0));
    format.bits_allocated = format.bits_stored = doubles ? 64 : 32;
    format.high_bit = format.bits_stored - 1;
    format.is_float = true;
    format.photometric_name = tag(0x0028, 0x0004);
    if (format.photometric_name.empty()) format.photometric_name = "MONOCHROME2";
    format.photometric =
        format.photometric_name == "MONOCHROME1" ? Photometric::Monochrome1 : Photometric::Monochrome2;
    if (format.photometric_name != "MONOCHROME1" && format.photometric_name != "MONOCHROME2")
      refuse_layout(format, "radpipe reads float pixels in grayscale images only");
    check_layout(format);
    const std::uint64_t needed = std::uint64_t{format.frames} * format.bits_per_frame() / 8;
    if (bytes->GetLength() < needed)
      throw DecodeError("its Float Pixel Data holds " + std::to_string(bytes->GetLength()) +
                        " bytes, fewer than its " + std::to_string(format.columns) + "x" +
                        std::to_string(format.rows) + "x" + std::to_string(format.frames) +
                        " size needs (truncated file?)");
    loaded->pixels.assign(bytes->GetPointer(), bytes->GetPointer() + needed);
  } else {
    read_image(*loaded, warnings.str());
  }
  if (format.frames > 1) cached_ = loaded;
  return loaded;
}

DecodedDicom DicomDecoder::decode(const std::string& file, int frame, const DecodeOptions& options,
                                  const PixelAllocator& allocate) {
  const auto loaded = load(file);
  const FrameLayout& format = loaded->format;
  if (frame < 1 || static_cast<unsigned>(frame) > format.frames)
    throw DecodeError("it has " + std::to_string(format.frames) + " frame(s); frame " +
                      std::to_string(frame) + " does not exist");
  const auto frame_index = static_cast<std::size_t>(frame - 1);
  const gdcm::File& dicom = loaded->reader.GetFile();
  const gdcm::DataSet& dataset = dicom.GetDataSet();
  const TagText tag(dicom);

  // Modality values: RescaleSlope/Intercept turn stored values into physical units. Colour
  // images have no modality transform (PS3.3 C.11.1 applies it to grayscale only).
  Modality modality;
  if (!format.is_colour()) {
    const auto slopes = numbers_of(tag(0x0028, 0x1053));
    const auto intercepts = numbers_of(tag(0x0028, 0x1052));
    modality.slope = !slopes.empty() && slopes.front() != 0.0 ? slopes.front() : 1.0;
    modality.intercept = intercepts.empty() ? 0.0 : intercepts.front();
  }

  MappedFrame frame_result;
  if (format.needs_wide_values()) {
    std::vector<double> values;
    read_frame(loaded->pixels, format, frame_index, values);
    frame_result = mapped_frame(values, format, modality, options, dataset, tag, allocate);
  } else {
    std::vector<std::int32_t> values;
    read_frame(loaded->pixels, format, frame_index, values);
    if (format.planar) interleave(values, format.pixels_per_frame());
    if (format.photometric == Photometric::YbrFull) ybr_full_to_rgb(values, format.bits_stored);
    frame_result = mapped_frame(values, format, modality, options, dataset, tag, allocate);
  }
  DecodedDicom decoded;
  decoded.image = std::move(frame_result.image);

  DicomHeader& header = decoded.header;
  header.patient_id = tag(0x0010, 0x0020);
  header.study_id = tag(0x0020, 0x000d);
  header.body_part = lower(tag(0x0018, 0x0015));
  header.view = tag(0x0018, 0x5101);
  // PixelSpacing describes the patient plane; projection radiographs often only carry the
  // detector's ImagerPixelSpacing. Zeros mean "unknown" in files seen in practice.
  for (const auto& [group, element] : {std::pair{0x0028, 0x0030}, std::pair{0x0018, 0x1164}}) {
    const auto spacing =
        numbers_of(tag(static_cast<std::uint16_t>(group), static_cast<std::uint16_t>(element)));
    if (spacing.size() == 2 && spacing[0] > 0.0 && spacing[1] > 0.0) {
      header.pixel_spacing_mm = std::array<double, 2>{spacing[0], spacing[1]};
      break;
    }
  }

  auto& tags = header.tags;
  for (const auto& [name, group, element] : kept_tags)
    if (auto text = tag(group, element); !text.empty()) tags[name] = std::move(text);
  if (tags.find("TransferSyntaxUID") == tags.end() && !loaded->transfer_syntax.empty())
    tags["TransferSyntaxUID"] = loaded->transfer_syntax;
  tags["PhotometricInterpretation"] = format.photometric_name;
  tags["SamplesPerPixel"] = std::to_string(format.samples);
  tags["BitsAllocated"] = std::to_string(format.bits_allocated);
  tags["BitsStored"] = std::to_string(format.bits_stored);
  tags["PixelRepresentation"] = format.is_float ? "float" : std::to_string(format.is_signed ? 1 : 0);
  if (format.frames > 1) {
    tags["NumberOfFrames"] = std::to_string(format.frames);
    tags["frame"] = std::to_string(frame);
  }
  if (format.is_colour()) tags["color"] = options.color == ColorMode::Luma ? "luma" : "rgb";
  // What radpipe did: the stored range, and which modality values became black and white.
  tags["stored_min"] = frame_result.stored_min;
  tags["stored_max"] = frame_result.stored_max;
  tags["window_source"] = frame_result.window.source;
  tags["window_low"] = number_text(frame_result.window.low);
  tags["window_high"] = number_text(frame_result.window.high);
  return decoded;
}

} // namespace radpipe::dicom
