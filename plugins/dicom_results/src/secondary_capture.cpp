#include "secondary_capture.hpp"

#include <dcmtk/config/osconfig.h> // first, as DCMTK requires
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcuid.h>

#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <radpipe/version.hpp>

#include "result_attributes.hpp"

namespace radpipe::dicom_results {
namespace {

cv::Mat to_gray8(const cv::Mat& radiograph) {
  if (radiograph.empty()) throw DicomResultError("the radiograph to capture is empty");
  if (radiograph.channels() != 1)
    throw DicomResultError("the radiograph to capture must have one channel, not " +
                           std::to_string(radiograph.channels()));
  cv::Mat gray;
  switch (radiograph.depth()) {
    case CV_8U:
      gray = radiograph;
      break;
    case CV_16U:
      radiograph.convertTo(gray, CV_8U, 1.0 / 257.0);
      break;
    default:
      throw DicomResultError("the radiograph to capture must be 8- or 16-bit");
  }
  return gray;
}

void blend_heatmap(cv::Mat& bgr, const cv::Mat& heatmap) {
  if (heatmap.type() != CV_32FC1) throw DicomResultError("the heatmap must be one-channel float (CV_32FC1)");
  cv::Mat heat;
  cv::resize(heatmap, heat, bgr.size(), 0, 0, cv::INTER_LINEAR);
  heat = cv::max(cv::min(heat, 1.0), 0.0);
  cv::Mat heat8, colours;
  heat.convertTo(heat8, CV_8U, 255.0);
  cv::applyColorMap(heat8, colours, cv::COLORMAP_JET);
  // Weighted by heat, so that where the model did not look the radiograph shows unchanged.
  for (int row = 0; row < bgr.rows; ++row) {
    auto* pixel = bgr.ptr<cv::Vec3b>(row);
    const auto* colour = colours.ptr<cv::Vec3b>(row);
    const auto* weight = heat.ptr<float>(row);
    for (int column = 0; column < bgr.cols; ++column) {
      const float alpha = 0.5f * weight[column];
      for (int channel = 0; channel < 3; ++channel)
        pixel[column][channel] =
            cv::saturate_cast<uchar>((1.0f - alpha) * static_cast<float>(pixel[column][channel]) +
                                     alpha * static_cast<float>(colour[column][channel]));
    }
  }
}

} // namespace

std::vector<std::string> capture_lines(const CaptureFacts& facts) {
  const std::string model = printable_ascii(facts.model.name + " " + facts.model.version);
  return {
      "radpipe: " + verdict_text(facts.probability, facts.threshold),
      "model " + model + ", chain " + printable_ascii(facts.chain) + ", weights " +
          facts.model.checkpoint_sha256.substr(0, 12) + (facts.has_heatmap ? ", Grad-CAM overlay" : ""),
      "NOT FOR DIAGNOSTIC USE",
  };
}

cv::Mat render_capture(const cv::Mat& radiograph, const cv::Mat& heatmap,
                       const std::vector<std::string>& lines, bool abnormal, int max_side) {
  const cv::Mat gray = to_gray8(radiograph);
  const double scale = std::min(1.0, static_cast<double>(max_side) / std::max(gray.cols, gray.rows));
  cv::Mat scaled;
  cv::resize(gray, scaled,
             cv::Size(std::max(1, static_cast<int>(gray.cols * scale + 0.5)),
                      std::max(1, static_cast<int>(gray.rows * scale + 0.5))),
             0, 0, cv::INTER_AREA);
  cv::Mat image;
  cv::cvtColor(scaled, image, cv::COLOR_GRAY2BGR);
  if (!heatmap.empty()) blend_heatmap(image, heatmap);

  // The banner's text fits the image's width: Hershey fonts scale linearly.
  const int font = cv::FONT_HERSHEY_SIMPLEX;
  const int thickness = std::max(1, image.cols / 400);
  std::size_t longest = 1;
  for (const auto& line : lines) longest = std::max(longest, line.size());
  int baseline = 0;
  const cv::Size unit = cv::getTextSize(std::string(longest, 'M'), font, 1.0, thickness, &baseline);
  const double font_scale = std::clamp(0.95 * image.cols / unit.width, 0.3, 1.5);
  const int line_height = static_cast<int>(std::ceil((unit.height + baseline) * font_scale * 1.5));
  const int banner_height = line_height * static_cast<int>(lines.size()) + line_height / 2;

  cv::Mat picture(image.rows + banner_height, image.cols, CV_8UC3, cv::Scalar(0, 0, 0));
  image.copyTo(picture(cv::Rect(0, banner_height, image.cols, image.rows)));
  const cv::Scalar white(255, 255, 255), red(60, 60, 255), green(90, 220, 90), yellow(0, 230, 255);
  for (std::size_t index = 0; index < lines.size(); ++index) {
    const cv::Scalar colour = index == 0                  ? (abnormal ? red : green)
                              : index + 1 == lines.size() ? yellow
                                                          : white;
    cv::putText(picture, lines[index], cv::Point(line_height / 4, line_height * static_cast<int>(index + 1)),
                font, font_scale, colour, thickness, cv::LINE_AA);
  }
  cv::Mat rgb;
  cv::cvtColor(picture, rgb, cv::COLOR_BGR2RGB);
  return rgb;
}

DicomObject make_secondary_capture(const SourceHeader& source, const cv::Mat& picture,
                                   const CaptureFacts& facts, const ResultSeriesOptions& options,
                                   int instance_number) {
  if (picture.type() != CV_8UC3 || !picture.isContinuous())
    throw DicomResultError("a secondary capture is made from a continuous 8-bit RGB picture");
  const std::string study_uid = source.study_uid();
  const ResultUids uids = ResultUids::of(options.uid_root, study_uid, facts.model.checkpoint_sha256);
  const Timestamp now = Timestamp::now();
  const std::string verdict = verdict_text(facts.probability, facts.threshold);

  auto file = std::make_unique<DcmFileFormat>();
  DcmDataset& d = *file->getDataset();
  copy_patient_and_study(source, d);
  put(d, DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  put(d, DCM_SOPInstanceUID,
      ResultUids::capture_instance(options.uid_root, study_uid, facts.model.checkpoint_sha256,
                                   source.sop_instance_uid()));
  put(d, DCM_InstanceCreationDate, now.date);
  put(d, DCM_InstanceCreationTime, now.time);
  // General Series, General Equipment, SC Equipment.
  put(d, DCM_Modality, "OT");
  put(d, DCM_SeriesInstanceUID, uids.capture_series);
  put(d, DCM_SeriesNumber, std::to_string(options.capture_series_number));
  put(d, DCM_SeriesDescription, "radpipe annotated images - NOT FOR DIAGNOSTIC USE");
  if (const std::string body_part = source.text(DCM_BodyPartExamined); !body_part.empty())
    put(d, DCM_BodyPartExamined, body_part);
  put(d, DCM_Manufacturer, "radpipe");
  put(d, DCM_StationName, options.station_name);
  put(d, DCM_ConversionType, "WSD");
  put(d, DCM_SecondaryCaptureDeviceManufacturer, "radpipe");
  put(d, DCM_SecondaryCaptureDeviceManufacturerModelName, printable_ascii(facts.model.name));
  put(d, DCM_SecondaryCaptureDeviceSoftwareVersions, "radpipe " RADPIPE_SDK_VERSION_STRING);
  put(d, DCM_DateOfSecondaryCapture, now.date);
  put(d, DCM_TimeOfSecondaryCapture, now.time);
  // General Image: what this picture is and is not.
  put(d, DCM_InstanceNumber, std::to_string(instance_number));
  put(d, DCM_PatientOrientation, source.text(DCM_PatientOrientation));
  put(d, DCM_ContentDate, now.date);
  put(d, DCM_ContentTime, now.time);
  put(d, DCM_ImageType, "DERIVED\\SECONDARY");
  put(d, DCM_BurnedInAnnotation, "YES");
  put(d, DCM_ImageComments, "NOT FOR DIAGNOSTIC USE. radpipe " + verdict);
  put(d, DCM_DerivationDescription,
      std::string("NOT FOR DIAGNOSTIC USE: the source image scaled to ") + std::to_string(picture.cols) +
          " columns" + (facts.has_heatmap ? ", the Grad-CAM heatmap blended in," : ",") +
          " and radpipe's verdict burned in");
  if (source.text(DCM_LossyImageCompression) == "01") {
    // Once lossy, always flagged (PS3.3 C.7.6.1.1.5).
    put(d, DCM_LossyImageCompression, "01");
    for (const auto& tag : {DCM_LossyImageCompressionRatio, DCM_LossyImageCompressionMethod})
      if (const std::string value = source.text(tag); !value.empty()) put(d, tag, value);
  }
  DcmItem* reference = nullptr;
  check(d.findOrCreateSequenceItem(DCM_SourceImageSequence, reference, -2), "the source image reference");
  put(*reference, DCM_ReferencedSOPClassUID, source.text(DCM_SOPClassUID));
  put(*reference, DCM_ReferencedSOPInstanceUID, source.sop_instance_uid());
  // Image Pixel: 8-bit RGB, colour-by-pixel.
  check(d.putAndInsertUint16(DCM_SamplesPerPixel, 3), "SamplesPerPixel");
  put(d, DCM_PhotometricInterpretation, "RGB");
  check(d.putAndInsertUint16(DCM_PlanarConfiguration, 0), "PlanarConfiguration");
  check(d.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(picture.rows)), "Rows");
  check(d.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(picture.cols)), "Columns");
  check(d.putAndInsertUint16(DCM_BitsAllocated, 8), "BitsAllocated");
  check(d.putAndInsertUint16(DCM_BitsStored, 8), "BitsStored");
  check(d.putAndInsertUint16(DCM_HighBit, 7), "HighBit");
  check(d.putAndInsertUint16(DCM_PixelRepresentation, 0), "PixelRepresentation");
  check(d.putAndInsertUint8Array(DCM_PixelData, picture.ptr<Uint8>(0),
                                 static_cast<unsigned long>(picture.total() * 3)),
        "the pixel data");
  return DicomObject(std::move(file));
}

} // namespace radpipe::dicom_results
