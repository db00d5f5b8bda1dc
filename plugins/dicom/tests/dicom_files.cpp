#include "dicom_files.hpp"

#include <gdcmImage.h>
#include <gdcmImageChangeTransferSyntax.h>
#include <gdcmImageWriter.h>
#include <gdcmSequenceOfItems.h>
#include <gdcmTrace.h>
#include <gdcmWriter.h>

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

void set_identity(gdcm::DataSet& dataset, const std::string& study_uid, const std::string& patient_id) {
  set_text(dataset, 0x0008, 0x0016, gdcm::VR::UI, "1.2.840.10008.5.1.4.1.1.1"); // CR Image Storage
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
    case Encoding::Uncompressed:
      break;
  }
  return gdcm::TransferSyntax::ExplicitVRLittleEndian;
}

} // namespace

std::vector<std::int32_t> ramp(int rows, int columns, std::int32_t step) {
  std::vector<std::int32_t> values(static_cast<std::size_t>(rows * columns));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<std::int32_t>(i) * step;
  return values;
}

std::filesystem::path shared_dicom(const std::string& name) {
  return std::filesystem::path(RADPIPE_SHARED_DIR) / "data" / "dicom" / name;
}

void write_dicom(const std::filesystem::path& file, const DicomSpec& spec) {
  if (spec.values.size() != static_cast<std::size_t>(spec.rows * spec.columns))
    throw std::invalid_argument("write_dicom: values do not fill rows x columns");
  gdcm::Trace::WarningOff(); // GDCM warns of the defaults it fills in while writing
  gdcm::ImageWriter plain;
  gdcm::Image& image = plain.GetImage();
  image.SetNumberOfDimensions(2);
  image.SetDimension(0, static_cast<unsigned>(spec.columns));
  image.SetDimension(1, static_cast<unsigned>(spec.rows));
  image.SetPixelFormat(gdcm::PixelFormat(1, static_cast<std::uint16_t>(spec.bits_allocated),
                                         static_cast<std::uint16_t>(spec.bits_stored),
                                         static_cast<std::uint16_t>(spec.bits_stored - 1), 0));
  image.SetPhotometricInterpretation(spec.monochrome1 ? gdcm::PhotometricInterpretation::MONOCHROME1
                                                      : gdcm::PhotometricInterpretation::MONOCHROME2);
  image.SetTransferSyntax(gdcm::TransferSyntax::ExplicitVRLittleEndian);
  if (spec.rescale_slope) image.SetSlope(*spec.rescale_slope);
  if (spec.rescale_intercept) image.SetIntercept(*spec.rescale_intercept);

  std::vector<char> bytes(spec.values.size() * static_cast<std::size_t>(spec.bits_allocated / 8));
  for (std::size_t i = 0; i < spec.values.size(); ++i) {
    if (spec.bits_allocated == 8) {
      bytes[i] = static_cast<char>(spec.values[i]);
    } else {
      const auto word = static_cast<std::uint16_t>(spec.values[i]);
      std::memcpy(bytes.data() + 2 * i, &word, 2);
    }
  }
  gdcm::DataElement pixels(gdcm::Tag(0x7fe0, 0x0010));
  pixels.SetByteValue(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
  image.SetDataElement(pixels);

  gdcm::DataSet& dataset = plain.GetFile().GetDataSet();
  set_identity(dataset, spec.study_uid, spec.patient_id);
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
