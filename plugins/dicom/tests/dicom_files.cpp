#include "dicom_files.hpp"

#include <gdcmImage.h>
#include <gdcmImageChangeTransferSyntax.h>
#include <gdcmImageWriter.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>
#include <gdcmWriter.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <stdexcept>

namespace radpipe::dicom::testing {
namespace {

void set_text(gdcm::DataSet& dataset, std::uint16_t group, std::uint16_t element, gdcm::VR vr,
              std::string value) {
  if (value.size() % 2 != 0) value += vr == gdcm::VR::UI ? '\0' : ' '; // DICOM values have even length
  gdcm::DataElement data(gdcm::Tag(group, element));
  data.SetVR(vr);
  data.SetByteValue(value.data(), static_cast<std::uint32_t>(value.size()));
  dataset.Replace(data);
}

std::string decimal(double value) {
  std::string text = std::to_string(value);
  text.erase(text.find_last_not_of('0') + 1);
  if (text.back() == '.') text.pop_back();
  return text;
}

constexpr const char* cr_image_storage = "1.2.840.10008.5.1.4.1.1.1";
// GDCM's writer refuses multi-frame colour images under the CR class.
constexpr const char* multiframe_true_color_storage = "1.2.840.10008.5.1.4.1.1.7.4";

void set_identity(gdcm::DataSet& dataset, const std::string& study_uid, const std::string& patient_id,
                  const char* sop_class = cr_image_storage) {
  set_text(dataset, 0x0008, 0x0016, gdcm::VR::UI, sop_class);
  set_text(dataset, 0x0008, 0x0060, gdcm::VR::CS, "CR");
  set_text(dataset, 0x0010, 0x0020, gdcm::VR::LO, patient_id);
  set_text(dataset, 0x0020, 0x000d, gdcm::VR::UI, study_uid);
}

void set_words(gdcm::DataSet& dataset, std::uint16_t group, std::uint16_t element,
               const std::vector<std::uint16_t>& words) {
  gdcm::DataElement data(gdcm::Tag(group, element));
  data.SetVR(gdcm::VR::US);
  data.SetByteValue(reinterpret_cast<const char*>(words.data()),
                    static_cast<std::uint32_t>(words.size() * 2));
  dataset.Replace(data);
}

void set_voi_lut(gdcm::DataSet& dataset, const VoiLutSpec& lut) {
  gdcm::Item item;
  item.SetVLToUndefined();
  gdcm::DataSet& nested = item.GetNestedDataSet();
  set_words(nested, 0x0028, 0x3002,
            {static_cast<std::uint16_t>(lut.data.size()), lut.first_mapped, lut.bits}); // LUT Descriptor
  set_words(nested, 0x0028, 0x3006, lut.data);                                          // LUT Data
  // GDCM's sequences live behind its intrusive SmartPointer, which owns and frees them.
  gdcm::SmartPointer<gdcm::SequenceOfItems> sequence = new gdcm::SequenceOfItems;
  sequence->SetLengthToUndefined();
  sequence->AddItem(item);
  gdcm::DataElement voi_lut_sequence(gdcm::Tag(0x0028, 0x3010));
  voi_lut_sequence.SetVR(gdcm::VR::SQ);
  voi_lut_sequence.SetValue(*sequence);
  voi_lut_sequence.SetVLToUndefined();
  dataset.Replace(voi_lut_sequence);
}

gdcm::TransferSyntax syntax_of(Encoding encoding) {
  switch (encoding) {
    case Encoding::JpegBaseline:
      return gdcm::TransferSyntax::JPEGBaselineProcess1;
    case Encoding::JpegLossless:
      return gdcm::TransferSyntax::JPEGLosslessProcess14_1;
    case Encoding::Rle:
      return gdcm::TransferSyntax::RLELossless;
    case Encoding::Jpeg2000Lossless:
      return gdcm::TransferSyntax::JPEG2000Lossless;
    case Encoding::Jpeg2000:
      return gdcm::TransferSyntax::JPEG2000;
    case Encoding::Uncompressed:
      break;
  }
  return gdcm::TransferSyntax::ExplicitVRLittleEndian;
}

gdcm::PhotometricInterpretation::PIType photometric_of(Photometric photometric) {
  switch (photometric) {
    case Photometric::Monochrome1:
      return gdcm::PhotometricInterpretation::MONOCHROME1;
    case Photometric::Monochrome2:
      return gdcm::PhotometricInterpretation::MONOCHROME2;
    case Photometric::Rgb:
      return gdcm::PhotometricInterpretation::RGB;
    case Photometric::YbrFull:
      return gdcm::PhotometricInterpretation::YBR_FULL;
    case Photometric::YbrFull422:
      return gdcm::PhotometricInterpretation::YBR_FULL_422;
    case Photometric::YbrRct:
      return gdcm::PhotometricInterpretation::YBR_RCT;
    case Photometric::YbrIct:
      return gdcm::PhotometricInterpretation::YBR_ICT;
  }
  return gdcm::PhotometricInterpretation::MONOCHROME2;
}

// RGB to YBR_FULL at `bits` bits (PS3.3 C.7.6.3.1.2), rounded and clamped.
std::array<std::int64_t, 3> ybr_of(std::int64_t red, std::int64_t green, std::int64_t blue, int bits) {
  const double middle = std::ldexp(1.0, bits - 1), top = std::ldexp(1.0, bits) - 1.0;
  const auto r = static_cast<double>(red), g = static_cast<double>(green), b = static_cast<double>(blue);
  const auto clamped = [top](double value) {
    return static_cast<std::int64_t>(std::lround(std::clamp(value, 0.0, top)));
  };
  return {clamped(0.299 * r + 0.587 * g + 0.114 * b), clamped(-0.1687 * r - 0.3313 * g + 0.5 * b + middle),
          clamped(0.5 * r - 0.4187 * g - 0.0813 * b + middle)};
}

// The samples as the file stores them, before packing into bytes: colour encoded, planar
// reordered, one frame after another.
std::vector<std::int64_t> stored_samples(const DicomSpec& spec) {
  const std::size_t pixels = static_cast<std::size_t>(spec.rows) * static_cast<std::size_t>(spec.columns);
  std::vector<std::int64_t> samples = spec.values;
  const bool to_ybr = spec.photometric == Photometric::YbrFull || spec.photometric == Photometric::YbrFull422;
  if (to_ybr)
    for (std::size_t i = 0; i + 2 < samples.size(); i += 3) {
      const auto ybr = ybr_of(samples[i], samples[i + 1], samples[i + 2], spec.bits_stored);
      std::copy(ybr.begin(), ybr.end(), samples.begin() + static_cast<std::ptrdiff_t>(i));
    }
  if (spec.photometric == Photometric::YbrFull422 && spec.encoding == Encoding::Uncompressed) {
    // Y1 Y2 Cb Cr for each horizontal pair, its chroma the pair's mean (PS3.3 C.7.6.3.1.2).
    if (spec.columns % 2 != 0) throw std::invalid_argument("write_dicom: YBR_FULL_422 needs an even width");
    std::vector<std::int64_t> subsampled;
    for (std::size_t pair = 0; pair < samples.size() / 6; ++pair) {
      const auto* first = &samples[pair * 6];
      subsampled.insert(subsampled.end(),
                        {first[0], first[3], (first[1] + first[4] + 1) / 2, (first[2] + first[5] + 1) / 2});
    }
    return subsampled;
  }
  if (spec.planar && spec.samples == 3) {
    std::vector<std::int64_t> planar(samples.size());
    for (std::size_t frame = 0; frame < static_cast<std::size_t>(spec.frames); ++frame)
      for (std::size_t i = 0; i < pixels; ++i)
        for (std::size_t channel = 0; channel < 3; ++channel)
          planar[frame * pixels * 3 + channel * pixels + i] = samples[frame * pixels * 3 + i * 3 + channel];
    return planar;
  }
  return samples;
}

// Packs samples as BitsAllocated says: 1-bit ones eight to a byte, the first in the lowest bit
// and frames unpadded (PS3.5 8.1.1); others little-endian, negative ones in two's complement.
std::vector<char> packed(const std::vector<std::int64_t>& samples, int bits_allocated) {
  if (bits_allocated == 1) {
    std::vector<char> bytes((samples.size() + 7) / 8);
    for (std::size_t i = 0; i < samples.size(); ++i)
      if (samples[i] & 1) bytes[i / 8] = static_cast<char>(bytes[i / 8] | (1 << (i % 8)));
    return bytes;
  }
  const std::size_t width = static_cast<std::size_t>(bits_allocated / 8);
  std::vector<char> bytes(samples.size() * width);
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto word = static_cast<std::uint32_t>(samples[i]);
    std::memcpy(bytes.data() + i * width, &word, width); // little-endian: the low bytes come first
  }
  return bytes;
}

void set_number(gdcm::DataSet& dataset, std::uint16_t group, std::uint16_t element, std::uint16_t value) {
  set_words(dataset, group, element, {value});
}

// Float Pixel Data, which GDCM's image writer does not write: the data set is built by hand.
void write_float_dicom(const std::filesystem::path& file, const DicomSpec& spec) {
  gdcm::Writer writer;
  writer.SetCheckFileMetaInformation(true);
  gdcm::DataSet& dataset = writer.GetFile().GetDataSet();
  set_identity(dataset, spec.study_uid, spec.patient_id);
  set_text(dataset, 0x0008, 0x0018, gdcm::VR::UI, "1.2.826.0.1.3680043.10.543.7.1");
  set_number(dataset, 0x0028, 0x0002, 1); // SamplesPerPixel
  set_text(dataset, 0x0028, 0x0004, gdcm::VR::CS,
           spec.photometric == Photometric::Monochrome1 ? "MONOCHROME1" : "MONOCHROME2");
  if (spec.frames > 1) set_text(dataset, 0x0028, 0x0008, gdcm::VR::IS, std::to_string(spec.frames));
  set_number(dataset, 0x0028, 0x0010, static_cast<std::uint16_t>(spec.rows));
  set_number(dataset, 0x0028, 0x0011, static_cast<std::uint16_t>(spec.columns));
  set_number(dataset, 0x0028, 0x0100, static_cast<std::uint16_t>(spec.float_bits)); // BitsAllocated
  std::vector<char> bytes;
  for (const double value : spec.float_values) {
    const std::size_t at = bytes.size();
    bytes.resize(at + static_cast<std::size_t>(spec.float_bits / 8));
    if (spec.float_bits == 32) {
      const auto single = static_cast<float>(value);
      std::memcpy(bytes.data() + at, &single, sizeof single);
    } else {
      std::memcpy(bytes.data() + at, &value, sizeof value);
    }
  }
  gdcm::DataElement pixels(spec.float_bits == 32 ? gdcm::Tag(0x7fe0, 0x0008) : gdcm::Tag(0x7fe0, 0x0009));
  pixels.SetVR(spec.float_bits == 32 ? gdcm::VR::OF : gdcm::VR::OD);
  pixels.SetByteValue(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
  dataset.Replace(pixels);
  writer.GetFile().GetHeader().SetDataSetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  writer.SetFileName(file.c_str());
  if (!writer.Write()) throw std::runtime_error("GDCM could not write " + file.string());
}

} // namespace

std::vector<std::int64_t> ramp(int rows, int columns, std::int64_t step) {
  std::vector<std::int64_t> values(static_cast<std::size_t>(rows) * static_cast<std::size_t>(columns));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::int64_t>(i) * step;
  return values;
}

std::filesystem::path shared_dicom(const std::string& name) {
  return std::filesystem::path(RADPIPE_SHARED_DIR) / "data" / "dicom" / name;
}

void write_dicom(const std::filesystem::path& file, const DicomSpec& spec) {
  gdcm::Trace::WarningOff(); // GDCM warns of the defaults it fills in while writing
  const std::size_t samples = static_cast<std::size_t>(spec.rows) * static_cast<std::size_t>(spec.columns) *
                              static_cast<std::size_t>(spec.samples) * static_cast<std::size_t>(spec.frames);
  if (!spec.float_values.empty()) {
    if (spec.float_values.size() != samples)
      throw std::invalid_argument("write_dicom: float values do not fill the frames");
    write_float_dicom(file, spec);
    return;
  }
  if (spec.values.size() != samples)
    throw std::invalid_argument("write_dicom: values do not fill the frames");

  // Lossy JPEG and JPEG 2000 with colour transforms are written in a colour space the codec
  // takes, then labelled as DICOM names what is in the stream.
  const bool relabel = spec.encoding != Encoding::Uncompressed &&
                       (spec.photometric == Photometric::YbrFull422 ||
                        spec.photometric == Photometric::YbrRct || spec.photometric == Photometric::YbrIct);
  const auto written_photometric =
      !relabel ? photometric_of(spec.photometric)
               : (spec.photometric == Photometric::YbrFull422 ? gdcm::PhotometricInterpretation::YBR_FULL
                                                              : gdcm::PhotometricInterpretation::RGB);

  gdcm::ImageWriter plain;
  gdcm::Image& image = plain.GetImage();
  image.SetNumberOfDimensions(spec.frames > 1 ? 3 : 2);
  image.SetDimension(0, static_cast<unsigned>(spec.columns));
  image.SetDimension(1, static_cast<unsigned>(spec.rows));
  if (spec.frames > 1) image.SetDimension(2, static_cast<unsigned>(spec.frames));
  image.SetPixelFormat(gdcm::PixelFormat(
      static_cast<std::uint16_t>(spec.samples), static_cast<std::uint16_t>(spec.bits_allocated),
      static_cast<std::uint16_t>(spec.bits_stored), static_cast<std::uint16_t>(spec.bits_stored - 1),
      spec.is_signed ? 1 : 0));
  image.SetPhotometricInterpretation(written_photometric);
  image.SetPlanarConfiguration(spec.planar ? 1 : 0);
  image.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  if (spec.rescale_slope) image.SetSlope(*spec.rescale_slope);
  if (spec.rescale_intercept) image.SetIntercept(*spec.rescale_intercept);

  const std::vector<char> bytes = packed(stored_samples(spec), spec.bits_allocated);
  gdcm::DataElement pixels(gdcm::Tag(0x7fe0, 0x0010));
  pixels.SetByteValue(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
  image.SetDataElement(pixels);

  gdcm::DataSet& dataset = plain.GetFile().GetDataSet();
  set_identity(dataset, spec.study_uid, spec.patient_id,
               spec.frames > 1 && spec.samples == 3 ? multiframe_true_color_storage : cr_image_storage);
  if (!spec.body_part.empty()) set_text(dataset, 0x0018, 0x0015, gdcm::VR::CS, spec.body_part);
  if (!spec.view.empty()) set_text(dataset, 0x0018, 0x5101, gdcm::VR::CS, spec.view);
  if (!spec.pixel_spacing.empty()) set_text(dataset, 0x0028, 0x0030, gdcm::VR::DS, spec.pixel_spacing);
  if (spec.rescale_intercept)
    set_text(dataset, 0x0028, 0x1052, gdcm::VR::DS, decimal(*spec.rescale_intercept));
  if (spec.rescale_slope) set_text(dataset, 0x0028, 0x1053, gdcm::VR::DS, decimal(*spec.rescale_slope));
  if (spec.window) {
    set_text(dataset, 0x0028, 0x1050, gdcm::VR::DS, decimal(spec.window->first));
    set_text(dataset, 0x0028, 0x1051, gdcm::VR::DS, decimal(spec.window->second));
  }

  if (spec.voi_lut) set_voi_lut(dataset, *spec.voi_lut);

  if (spec.encoding == Encoding::Uncompressed) {
    plain.SetFileName(file.c_str());
    if (!plain.Write()) throw std::runtime_error("GDCM could not write " + file.string());
    return;
  }
  gdcm::ImageChangeTransferSyntax change;
  change.SetTransferSyntax(syntax_of(spec.encoding));
  change.SetInput(image);
  if (!change.Change()) throw std::runtime_error("GDCM could not compress " + file.string());
  gdcm::ImageWriter compressed;
  compressed.SetFile(plain.GetFile());
  compressed.SetImage(change.GetOutput());
  if (relabel) compressed.GetImage().SetPhotometricInterpretation(photometric_of(spec.photometric));
  compressed.SetFileName(file.c_str());
  if (!compressed.Write()) throw std::runtime_error("GDCM could not write " + file.string());
}

void write_dicom_without_pixels(const std::filesystem::path& file) {
  gdcm::Writer writer;
  writer.SetCheckFileMetaInformation(true);
  gdcm::DataSet& dataset = writer.GetFile().GetDataSet();
  set_identity(dataset, "1.2.826.0.1.3680043.10.543.9", "P9");
  set_text(dataset, 0x0008, 0x0018, gdcm::VR::UI, "1.2.826.0.1.3680043.10.543.9.1");
  writer.GetFile().GetHeader().SetDataSetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  writer.SetFileName(file.c_str());
  if (!writer.Write()) throw std::runtime_error("GDCM could not write " + file.string());
}

} // namespace radpipe::dicom::testing
