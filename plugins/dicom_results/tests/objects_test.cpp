// The result objects themselves: made from real sources, validated by dciodvfy, read back by
// dcmdump and dsrdump.
#include <dcmtk/config/osconfig.h> // first, as DCMTK requires
#include <dcmtk/dcmdata/dcdeftag.h>
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>
#include <radpipe/testing.hpp>

#include "dicom_tools.hpp"
#include "secondary_capture.hpp"
#include "structured_report.hpp"
#include "uids.hpp"

namespace radpipe::dicom_results {
namespace {

namespace fs = std::filesystem;
using namespace radpipe::dicom_results::testing;

const fs::path shared_dicom = fs::path(RADPIPE_SHARED_DIR) / "data/dicom";
const std::string rg3_study = "1.3.6.1.4.1.5962.1.2.11.20040826185059.5457";

ModelIdentity demo_model() {
  return {"fracatlas-cnn5", "2024.1",
          sha256_of_file(fs::path(RADPIPE_SOURCE_DIR) / "samples/models/fracatlas-cnn5.pt")};
}

StudyFindings rg3_findings() {
  StudyFindings findings;
  findings.images = {{SourceHeader::read_file(shared_dicom / "RG3_J2KR.dcm"), 0.81},
                     {SourceHeader::read_file(shared_dicom / "RG3_J2KI.dcm"), 0.42}};
  findings.probability = 0.615;
  findings.threshold = 0.5;
  findings.body_part = "leg";
  findings.chain = "default";
  findings.model = demo_model();
  return findings;
}

void expect_valid(const fs::path& file) {
  EXPECT_TRUE(dciodvfy_errors(file).empty()) << dciodvfy_report(file);
}

TEST(SourceHeaderTest, ReadsFilesAndBytesAlike) {
  const auto from_file = SourceHeader::read_file(shared_dicom / "RG3_J2KI.dcm");
  EXPECT_EQ(from_file.study_uid(), rg3_study);
  EXPECT_EQ(from_file.sop_instance_uid(), "1.3.6.1.4.1.5962.1.1.11.1.3.20040826185059.5457");
  const std::string bytes = radpipe::testing::read_text(shared_dicom / "RG3_J2KI.dcm");
  const auto from_bytes = SourceHeader::read_bytes(bytes, "RG3 in memory");
  EXPECT_EQ(from_bytes.sop_instance_uid(), from_file.sop_instance_uid());
  EXPECT_EQ(from_bytes.text(DCM_PatientName), "CompressedSamples^RG3");
}

TEST(SourceHeaderTest, RefusesWhatIsNotDicomOrCannotBeReferenced) {
  radpipe::testing::TempFolder folder;
  EXPECT_THROW(SourceHeader::read_file(folder.write("a.dcm", "not dicom at all")), DicomResultError);
  EXPECT_THROW(SourceHeader::read_bytes("", "nothing"), DicomResultError);
  EXPECT_THROW(
      SourceHeader::read_file(fs::path(RADPIPE_SOURCE_DIR) / "samples/fracatlas/images/IMG0000015.jpg"),
      DicomResultError);
}

TEST(FindingsReport, IsAValidComprehensiveSrFollowingTid1500) {
  radpipe::testing::TempFolder folder;
  const StudyFindings findings = rg3_findings();
  const DicomObject report = make_findings_report(findings, ResultSeriesOptions{});
  const fs::path file = folder.path() / "report.dcm";
  report.save(file);
  expect_valid(file);

  EXPECT_EQ(report.sop_class_uid(), "1.2.840.10008.5.1.4.1.1.88.33") << "Comprehensive SR";
  const ResultUids uids = ResultUids::of("2.25", rg3_study, findings.model.checkpoint_sha256);
  EXPECT_EQ(report.study_instance_uid(), rg3_study);
  EXPECT_EQ(report.series_instance_uid(), uids.report_series);
  EXPECT_EQ(report.sop_instance_uid(), uids.report_instance);

  const std::string dump = dcmdump(file);
  for (const std::string expected :
       {"CompressedSamples^RG3", "[11RG3]", "[FUJI95706]", "[19790408]",
        "CurrentRequestedProcedureEvidenceSequence", "1.3.6.1.4.1.5962.1.1.11.1.2.20040826185059.5457",
        "1.3.6.1.4.1.5962.1.1.11.1.3.20040826185059.5457", "[UNVERIFIED]", "[COMPLETE]", "[1500]", "[DCMR]",
        "[126000]", "NOT FOR DIAGNOSTIC USE"})
    EXPECT_NE(dump.find(expected), std::string::npos) << "dcmdump lacks " << expected << ":\n" << dump;

  const std::string content = dsrdump(file);
  for (const std::string& expected : std::vector<std::string>{
           "Comprehensive SR Document", "<CONTAINER:(,,\"Imaging Measurement Report\")=SEPARATE>",
           "(363680008,SCT,\"Radiographic imaging procedure\")", "\"Image Library\"",
           "\"Tracking Identifier\")=\"radpipe study verdict\"", "\"Finding\")=(263654008,SCT,\"Abnormal\")",
           "\"Finding\")=(17621005,SCT,\"Normal\")", "\"Finding Site\")=(66019005,SCT,\"Extremity\")",
           "\"Probability\")=\"0.6150\" (1,UCUM,\"no units\")", "\"Probability\")=\"0.8100\"",
           "\"Probability\")=\"0.4200\"", "\"CAD Operating Point\")=\"0.5000\" (1,UCUM,\"no units\")",
           "\"Algorithm Name\")=\"fracatlas-cnn5\"", "\"Algorithm Version\")=\"2024.1\"",
           "\"Algorithm Parameters\")=\"chain: default\"",
           "\"Algorithm Parameters\")=\"checkpoint SHA-256: " + findings.model.checkpoint_sha256 + "\"",
           "\"Source of Measurement\")=(CR image,)",
           "\"Device Observer UID\")=\"" + uids.device_observer + "\"",
           "\"Device Observer Serial Number\")=\"" + findings.model.checkpoint_sha256 + "\""})
    EXPECT_NE(content.find(expected), std::string::npos) << "dsrdump lacks " << expected << ":\n" << content;
}

TEST(FindingsReport, CodesTheBodyPartFromTheSourceOrFromRadpipe) {
  radpipe::testing::TempFolder folder;
  RadiographSpec spec;
  spec.pixels = fracatlas_pixels("IMG0000015.jpg", 128);
  spec.body_part = "";
  write_radiograph(folder.path() / "hand.dcm", spec);
  StudyFindings findings;
  findings.images = {{SourceHeader::read_file(folder.path() / "hand.dcm"), 0.2}};
  findings.probability = 0.2;
  findings.body_part = "hand"; // radpipe's, from a CSV say
  findings.chain = "hand";
  findings.model = demo_model();
  make_findings_report(findings, ResultSeriesOptions{}).save(folder.path() / "report.dcm");
  expect_valid(folder.path() / "report.dcm");
  const std::string content = dsrdump(folder.path() / "report.dcm");
  EXPECT_NE(content.find("\"Finding Site\")=(85562004,SCT,\"Hand\")"), std::string::npos) << content;
  EXPECT_NE(content.find("\"Finding\")=(17621005,SCT,\"Normal\")"), std::string::npos) << content;
  EXPECT_EQ(content.find("Abnormal"), std::string::npos) << content;
  EXPECT_NE(dcmdump(folder.path() / "report.dcm").find("(0008,0005) CS [ISO_IR 100]"), std::string::npos)
      << "the source's character set";
}

TEST(FindingsReport, RefusesImagesOfAnotherStudy) {
  StudyFindings findings = rg3_findings();
  findings.images.push_back({SourceHeader::read_file(shared_dicom / "RG1_J2KI.dcm"), 0.5});
  EXPECT_THROW(make_findings_report(findings, ResultSeriesOptions{}), DicomResultError);
}

TEST(Capture, RendersTheBannerAboveTheImageAndTheHeatWhereTheModelLooked) {
  cv::Mat radiograph(400, 300, CV_16UC1, cv::Scalar(20000));
  cv::Mat heat(10, 10, CV_32FC1, cv::Scalar(0.0f));
  heat(cv::Rect(0, 0, 5, 5)).setTo(1.0f); // the top-left quarter is hot
  CaptureFacts facts{0.9, 0.5, "hand", demo_model(), true};
  const cv::Mat picture = render_capture(radiograph, heat, capture_lines(facts), true, 1024);
  ASSERT_EQ(picture.type(), CV_8UC3);
  EXPECT_EQ(picture.cols, 300);
  const int banner = picture.rows - 400;
  EXPECT_GT(banner, 20) << "a banner above the image";
  const cv::Vec3b cold = picture.at<cv::Vec3b>(banner + 350, 250);
  const cv::Vec3b hot = picture.at<cv::Vec3b>(banner + 50, 50);
  EXPECT_EQ(cold, cv::Vec3b(78, 78, 78)) << "20000/257 rounded, untouched where the heat is zero";
  EXPECT_NE(hot, cold);
  EXPECT_GT(hot[0], hot[2]) << "JET's hot end is red (RGB order)";
  EXPECT_GT(cv::countNonZero(picture(cv::Rect(0, 0, 300, banner)).reshape(1)), 100) << "text in the banner";

  const cv::Mat large(3000, 2000, CV_8UC1, cv::Scalar(128));
  const cv::Mat fitted = render_capture(large, cv::Mat(), capture_lines(facts), false, 1024);
  EXPECT_EQ(fitted.cols, 683);
  EXPECT_LE(fitted.rows, 1024 + 200);
}

TEST(Capture, IsAValidSecondaryCaptureMarkedNotForDiagnosis) {
  radpipe::testing::TempFolder folder;
  const auto source = SourceHeader::read_file(shared_dicom / "RG3_J2KI.dcm");
  CaptureFacts facts{0.42, 0.5, "default", demo_model(), false};
  const cv::Mat picture = render_capture(cv::Mat(176, 176, CV_16UC1, cv::Scalar(30000)), cv::Mat(),
                                         capture_lines(facts), false, 1024);
  const DicomObject capture = make_secondary_capture(source, picture, facts, ResultSeriesOptions{}, 2);
  const fs::path file = folder.path() / "capture.dcm";
  capture.save(file);
  expect_valid(file);

  EXPECT_EQ(capture.sop_class_uid(), "1.2.840.10008.5.1.4.1.1.7");
  EXPECT_EQ(capture.study_instance_uid(), rg3_study);
  EXPECT_EQ(capture.series_instance_uid(),
            ResultUids::of("2.25", rg3_study, facts.model.checkpoint_sha256).capture_series);
  EXPECT_EQ(capture.sop_instance_uid(),
            ResultUids::capture_instance("2.25", rg3_study, facts.model.checkpoint_sha256,
                                         source.sop_instance_uid()));
  const std::string dump = dcmdump(file);
  for (const std::string expected :
       {"(0028,0301) CS [YES]", "NOT FOR DIAGNOSTIC USE. radpipe normal (p = 0.42, threshold 0.50)",
        "DerivationDescription", "[DERIVED\\SECONDARY]", "[RGB]", "[WSD]", "CompressedSamples^RG3",
        "[FUJI95706]", "SourceImageSequence", "1.3.6.1.4.1.5962.1.1.11.1.3.20040826185059.5457",
        "[EXTREMITY]", "(0028,2110) CS [01]", "(0028,2112) DS [30]"})
    EXPECT_NE(dump.find(expected), std::string::npos) << "dcmdump lacks " << expected << ":\n" << dump;
}

TEST(Capture, FlagsLossyOnlyWhatCameFromALossySource) {
  radpipe::testing::TempFolder folder;
  RadiographSpec spec;
  spec.pixels = fracatlas_pixels("IMG0000015.jpg", 128);
  write_radiograph(folder.path() / "source.dcm", spec);
  const auto source = SourceHeader::read_file(folder.path() / "source.dcm");
  CaptureFacts facts{0.1, 0.5, "default", demo_model(), false};
  const cv::Mat picture = render_capture(spec.pixels, cv::Mat(), capture_lines(facts), false, 1024);
  make_secondary_capture(source, picture, facts, ResultSeriesOptions{}, 1)
      .save(folder.path() / "capture.dcm");
  expect_valid(folder.path() / "capture.dcm");
  EXPECT_EQ(dcmdump(folder.path() / "capture.dcm").find("LossyImageCompression"), std::string::npos)
      << "a lossless source gives no lossy flag";
}

} // namespace
} // namespace radpipe::dicom_results
