#include "dicom_tools.hpp"

#include <dcmtk/config/osconfig.h> // first, as DCMTK requires
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/testing.hpp>
#include <sstream>
#include <stdexcept>

namespace radpipe::dicom_results::testing {
namespace {

void put(DcmDataset& dataset, const DcmTagKey& tag, const std::string& value) {
  if (dataset.putAndInsertString(tag, value.c_str()).bad())
    throw std::runtime_error("cannot put " + std::string(DcmTag(tag).getTagName()));
}

std::string run(const std::string& command) {
  return radpipe::testing::run_command(command + " 2>&1").out;
}

std::string quoted(const std::filesystem::path& file) {
  return "'" + file.string() + "'";
}

} // namespace

void write_radiograph(const std::filesystem::path& file, const RadiographSpec& spec) {
  const cv::Mat& pixels = spec.pixels;
  if (pixels.empty() || pixels.channels() != 1 || (pixels.depth() != CV_8U && pixels.depth() != CV_16U))
    throw std::invalid_argument("write_radiograph needs 8- or 16-bit one-channel pixels");
  const cv::Mat continuous = pixels.isContinuous() ? pixels : pixels.clone();
  const bool sixteen = pixels.depth() == CV_16U;
  DcmFileFormat format;
  DcmDataset& d = *format.getDataset();
  put(d, DCM_SpecificCharacterSet, "ISO_IR 100");
  put(d, DCM_SOPClassUID,
      spec.modality == "DX" ? UID_DigitalXRayImageStorageForPresentation
                            : UID_ComputedRadiographyImageStorage);
  put(d, DCM_SOPInstanceUID, spec.sop_uid);
  put(d, DCM_StudyInstanceUID, spec.study_uid);
  put(d, DCM_SeriesInstanceUID, spec.series_uid);
  put(d, DCM_PatientName, spec.patient_name);
  put(d, DCM_PatientID, spec.patient_id);
  put(d, DCM_PatientBirthDate, "19700101");
  put(d, DCM_PatientSex, "O");
  put(d, DCM_StudyDate, spec.study_date);
  put(d, DCM_StudyTime, "101500");
  put(d, DCM_AccessionNumber, spec.accession);
  put(d, DCM_ReferringPhysicianName, "");
  put(d, DCM_StudyID, "1");
  put(d, DCM_Modality, spec.modality);
  put(d, DCM_SeriesNumber, "1");
  put(d, DCM_BodyPartExamined, spec.body_part);
  put(d, DCM_ViewPosition, "PA");
  put(d, DCM_Manufacturer, "radpipe tests");
  put(d, DCM_InstanceNumber, std::to_string(spec.instance_number));
  put(d, DCM_PatientOrientation, "");
  put(d, DCM_ImageType, "ORIGINAL\\PRIMARY");
  put(d, DCM_PhotometricInterpretation, "MONOCHROME2");
  d.putAndInsertUint16(DCM_SamplesPerPixel, 1);
  d.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(pixels.rows));
  d.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(pixels.cols));
  d.putAndInsertUint16(DCM_BitsAllocated, sixteen ? 16 : 8);
  d.putAndInsertUint16(DCM_BitsStored, sixteen ? 16 : 8);
  d.putAndInsertUint16(DCM_HighBit, sixteen ? 15 : 7);
  d.putAndInsertUint16(DCM_PixelRepresentation, 0);
  const OFCondition status =
      sixteen ? d.putAndInsertUint16Array(DCM_PixelData, continuous.ptr<Uint16>(0), continuous.total())
              : d.putAndInsertUint8Array(DCM_PixelData, continuous.ptr<Uint8>(0), continuous.total());
  if (status.bad()) throw std::runtime_error(std::string("cannot put the pixels: ") + status.text());
  const OFCondition saved = format.saveFile(file.c_str(), EXS_LittleEndianExplicit);
  if (saved.bad()) throw std::runtime_error("cannot write " + file.string() + ": " + saved.text());
}

cv::Mat fracatlas_pixels(const std::string& name, int width) {
  const auto file = std::filesystem::path(RADPIPE_SOURCE_DIR) / "samples/fracatlas/images" / name;
  const cv::Mat image = cv::imread(file.string(), cv::IMREAD_GRAYSCALE);
  if (image.empty()) throw std::runtime_error("cannot read " + file.string());
  cv::Mat scaled;
  cv::resize(image, scaled, cv::Size(width, image.rows * width / image.cols), 0, 0, cv::INTER_AREA);
  return scaled;
}

std::string dciodvfy_report(const std::filesystem::path& file) {
  return run("dciodvfy " + quoted(file));
}

std::vector<std::string> dciodvfy_errors(const std::filesystem::path& file) {
  std::istringstream report(dciodvfy_report(file));
  std::vector<std::string> errors;
  for (std::string line; std::getline(report, line);)
    if (line.starts_with("Error")) errors.push_back(line);
  return errors;
}

std::string dcmdump(const std::filesystem::path& file) {
  return run("dcmdump +L -M " + quoted(file)); // whole text values, without loading the pixels
}
std::string dsrdump(const std::filesystem::path& file) {
  return run("dsrdump +Pl " + quoted(file));
}

void write_run(Writer& writer, std::span<const ImagePrediction> images, std::span<const StudyPrediction> studies,
               const std::filesystem::path& out_dir) {
  writer.open(WriterRun{out_dir, false, {}, false});
  for (const auto& image : images) writer.write_image(image);
  for (const auto& study : studies) writer.write_study(study);
  writer.close();
}

} // namespace radpipe::dicom_results::testing
