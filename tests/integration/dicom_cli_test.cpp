// The real radpipe binary on DICOM and image files: `radpipe show`, and `radpipe predict` over a
// folder of DICOM radiographs giving one study verdict per StudyInstanceUID.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <radpipe/testing.hpp>
#include <sstream>

#include "child_process.hpp"

namespace fs = std::filesystem;
using radpipe::testing::TempFolder;
using namespace std::chrono_literals;

namespace {

const fs::path source_dir = RADPIPE_SOURCE_DIR;
const fs::path dicom_dir = fs::path(RADPIPE_SHARED_DIR) / "data" / "dicom";

radpipe::dicom::ProcessResult radpipe_run(const std::vector<std::string>& arguments) {
  return radpipe::dicom::run_process(RADPIPE_EXECUTABLE, arguments, 300s);
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The rows of a CSV file without quoted fields, each split at its commas.
std::vector<std::vector<std::string>> read_rows(const fs::path& file) {
  std::vector<std::vector<std::string>> rows;
  const std::string text = read_text(file);
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    auto& row = rows.emplace_back();
    for (std::size_t cell = start; cell <= end;) {
      const std::size_t comma = std::min(text.find(',', cell), end);
      row.push_back(text.substr(cell, comma - cell));
      cell = comma + 1;
    }
    start = end + 1;
  }
  return rows;
}

std::size_t line_count(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

} // namespace

TEST(Show, HasHelpAndNeedsAFile) {
  const auto help = radpipe_run({"show", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("--png"), std::string::npos) << help.out;
  EXPECT_EQ(radpipe_run({"show"}).exit_code, 2); // a bad command line
}

TEST(Show, DicomFileWithJsonAndPng) {
  TempFolder scratch;
  const fs::path png = scratch.path() / "rg3.png";
  const auto run =
      radpipe_run({"show", (dicom_dir / "RG3_J2KR.dcm").string(), "--json", "--png", png.string()});
  ASSERT_TRUE(run.succeeded()) << run.err_tail;
  const auto shown = nlohmann::json::parse(run.out);
  EXPECT_EQ(shown["reader"], "dicom");
  EXPECT_EQ(shown["width"], 1760);
  EXPECT_EQ(shown["height"], 1760);
  EXPECT_EQ(shown["channels"], 1);
  EXPECT_EQ(shown["depth"], "16-bit unsigned");
  EXPECT_EQ(shown["patient_id"], "11RG3");
  EXPECT_EQ(shown["study_id"], "1.3.6.1.4.1.5962.1.2.11.20040826185059.5457");
  EXPECT_EQ(shown["body_part"], "extremity");
  EXPECT_EQ(shown["view"], "AP");
  EXPECT_TRUE(shown["pixel_spacing_mm"].is_null());
  EXPECT_EQ(shown["tags"]["PhotometricInterpretation"], "MONOCHROME1");
  EXPECT_EQ(shown["tags"]["BitsStored"], "10");
  EXPECT_EQ(shown["tags"]["WindowCenter"], "550");
  // Window c = 550, w = 1024 over stored 0..1023, inverted (MONOCHROME1): stored 0 is white,
  // stored 1023 sits at (1023 - 549.5) / 1023 + 0.5 of the window and becomes 1 minus that.
  EXPECT_EQ(shown["intensity"]["max"], 65535.0);
  EXPECT_EQ(shown["intensity"]["min"], std::round((1.0 - ((1023.0 - 549.5) / 1023.0 + 0.5)) * 65535.0));

  const cv::Mat image = cv::imread(png.string(), cv::IMREAD_UNCHANGED);
  ASSERT_FALSE(image.empty());
  EXPECT_EQ(image.type(), CV_8UC1);
  EXPECT_EQ(image.size(), cv::Size(1760, 1760));
  double lowest = 0, highest = 0;
  cv::minMaxLoc(image, &lowest, &highest);
  // 16-bit shades scaled by 255 / 65535.
  EXPECT_EQ(highest, 255.0);
  EXPECT_EQ(lowest, std::round(shown["intensity"]["min"].get<double>() * 255.0 / 65535.0));
}

TEST(Show, DicomFileAsText) {
  const auto run = radpipe_run({"show", (dicom_dir / "RG1_J2KI.dcm").string()});
  ASSERT_TRUE(run.succeeded()) << run.err_tail;
  for (const std::string expected :
       {"reader         dicom (plugin dicom ", "size           1841 x 1955 (width x height)",
        "pixels         1 channel, 16-bit unsigned", "body part      chest", "patient        9RG1",
        "view           PA", "pixel spacing  -", "  BitsStored                 15",
        "  PhotometricInterpretation  MONOCHROME1"})
    EXPECT_NE(run.out.find(expected), std::string::npos) << "missing \"" << expected << "\" in\n" << run.out;
}

TEST(Show, PngFileThroughTheImageFilesReader) {
  TempFolder scratch;
  const fs::path file = scratch.path() / "ramp.png";
  cv::Mat ramp(10, 20, CV_8UC1);
  for (int row = 0; row < ramp.rows; ++row)
    for (int column = 0; column < ramp.cols; ++column)
      ramp.at<unsigned char>(row, column) = static_cast<unsigned char>(10 * column + row);
  ASSERT_TRUE(cv::imwrite(file.string(), ramp));
  const fs::path png = scratch.path() / "out.png";
  const auto run = radpipe_run({"show", file.string(), "--json", "--png", png.string()});
  ASSERT_TRUE(run.succeeded()) << run.err_tail;
  const auto shown = nlohmann::json::parse(run.out);
  EXPECT_EQ(shown["reader"], "image_files");
  EXPECT_EQ(shown["width"], 20);
  EXPECT_EQ(shown["height"], 10);
  EXPECT_EQ(shown["depth"], "8-bit unsigned");
  // 10 x column + row: 0 at the top left, 10 x 19 + 9 = 199 at the bottom right.
  EXPECT_EQ(shown["intensity"]["min"], 0.0);
  EXPECT_EQ(shown["intensity"]["max"], 199.0);
  // An 8-bit image is written back unchanged.
  const cv::Mat written = cv::imread(png.string(), cv::IMREAD_UNCHANGED);
  ASSERT_EQ(written.type(), CV_8UC1);
  EXPECT_EQ(cv::norm(written, ramp, cv::NORM_INF), 0.0);
}

TEST(Show, UnreadableFilesGiveOneLineAndExitOne) {
  TempFolder scratch;
  const auto broken = scratch.write("broken.dcm", std::string(128, '\0') + "DICM" + std::string(300, '\x7f'));
  const auto not_png = scratch.write("photo.png", "not a PNG at all");
  for (const fs::path& file : {broken, not_png, scratch.path() / "missing.dcm"}) {
    const auto run = radpipe_run({"show", file.string()});
    EXPECT_EQ(run.exit_code, 1) << file << ": " << run.err_tail;
    EXPECT_EQ(run.signal, 0) << file;
    EXPECT_EQ(line_count(run.err_tail), 1u) << file << ":\n" << run.err_tail;
    EXPECT_NE(run.err_tail.find(file.string()), std::string::npos) << run.err_tail;
    EXPECT_TRUE(run.out.empty()) << run.out;
  }
}

TEST(PredictDicom, OneStudyRowPerStudyInstanceUid) {
  TempFolder scratch;
  // The shipped pipeline, pointed at this build's shared folder and model by absolute paths.
  std::string pipeline = read_text(source_dir / "pipelines" / "dicom-demo.toml");
  const auto replace = [&](const std::string& from, const std::string& to) {
    const auto at = pipeline.find(from);
    ASSERT_NE(at, std::string::npos) << from;
    pipeline.replace(at, from.size(), to);
  };
  replace("\"../../shared/data/dicom\"", "\"" + dicom_dir.string() + "\"");
  replace("\"../samples/", "\"" + (source_dir / "samples").string() + "/");
  const fs::path file = scratch.write("dicom-demo.toml", pipeline);
  const fs::path out = scratch.path() / "out";

  const auto run = radpipe_run({"predict", file.string(), "--out", out.string()});
  ASSERT_TRUE(run.succeeded()) << run.err_tail;

  const auto images = read_rows(out / "predictions.csv");
  ASSERT_EQ(images.size(), 4u); // header + 3 files
  EXPECT_EQ(images[0][0], "id");
  const auto studies = read_rows(out / "studies.csv");
  ASSERT_EQ(studies.size(), 3u); // header + 2 studies: RG1 alone, RG3 lossless and lossy together
  EXPECT_EQ(studies[0], (std::vector<std::string>{"study_id", "patient_id", "body_part", "chain", "images",
                                                  "probability", "predicted", "label"}));
  std::map<std::string, std::vector<std::string>> by_study;
  for (std::size_t i = 1; i < studies.size(); ++i) by_study[studies[i][0]] = studies[i];
  const auto& rg1 = by_study.at("1.3.6.1.4.1.5962.1.2.9.20040826185059.5457");
  const auto& rg3 = by_study.at("1.3.6.1.4.1.5962.1.2.11.20040826185059.5457");
  EXPECT_EQ(rg1[1], "9RG1");
  EXPECT_EQ(rg1[2], "chest");
  EXPECT_EQ(rg1[3], "default");
  EXPECT_EQ(rg1[4], "1");
  EXPECT_EQ(rg3[1], "11RG3");
  EXPECT_EQ(rg3[2], "extremity");
  EXPECT_EQ(rg3[4], "2");

  // The mean aggregator: RG3's study probability is the mean of its two images'.
  std::vector<double> rg3_images;
  for (std::size_t i = 1; i < images.size(); ++i)
    if (images[i][2] == rg3[0]) rg3_images.push_back(std::stod(images[i][7]));
  ASSERT_EQ(rg3_images.size(), 2u);
  EXPECT_NEAR(std::stod(rg3[5]), (rg3_images[0] + rg3_images[1]) / 2, 1e-6);
}
