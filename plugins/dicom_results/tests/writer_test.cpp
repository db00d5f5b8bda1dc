// The `dicom_results` writer stage on real DICOM files: the objects it writes, their UIDs across
// reruns, and what it refuses.
#include <gtest/gtest.h>

#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>

#include "dicom_tools.hpp"
#include "results_writer.hpp"
#include "uids.hpp"

namespace radpipe::dicom_results {
namespace {

namespace fs = std::filesystem;
using namespace radpipe::dicom_results::testing;

const fs::path model_file = fs::path(RADPIPE_SOURCE_DIR) / "samples/models/fracatlas-cnn5.pt";

DicomResultsWriter make_writer(std::map<std::string, ParamValue> values) {
  values.try_emplace("model_name", "fracatlas-cnn5");
  values.try_emplace("model_version", "1");
  values.try_emplace("checkpoint", model_file.string());
  values.try_emplace("uid_root", "1.2.826.0.1.3680043.10.543.77");
  return DicomResultsWriter(resolve_params(DicomResultsWriter::schema(), std::move(values)), StageContext{},
                            RADPIPE_DICOM_DECODER);
}

ImagePrediction prediction(const fs::path& file, const std::string& study, double probability) {
  ImagePrediction image;
  image.info.id = file.stem().string();
  image.info.path = file.string();
  image.info.study_id = study;
  image.probability = probability;
  image.chain = "default";
  return image;
}

StudyPrediction study_of(const std::string& study, double probability, int images, double threshold = 0.5) {
  StudyPrediction result;
  result.study_id = study;
  result.body_part = "hand";
  result.image_count = static_cast<std::size_t>(images);
  result.probability = probability;
  result.predicted = probability >= threshold ? 1 : 0;
  return result;
}

// Two generated studies: one of two hand radiographs, one of a single image.
struct TwoStudies {
  radpipe::testing::TempFolder folder;
  std::vector<ImagePrediction> images;
  std::vector<StudyPrediction> studies;

  TwoStudies() {
    const std::vector<std::pair<std::string, std::string>> files = {
        {"IMG0000015.jpg", "1.2.826.0.1.3680043.10.543.31"},
        {"IMG0000035.jpg", "1.2.826.0.1.3680043.10.543.31"},
        {"IMG0000188.jpg", "1.2.826.0.1.3680043.10.543.32"}};
    for (std::size_t index = 0; index < files.size(); ++index) {
      RadiographSpec spec;
      spec.pixels = fracatlas_pixels(files[index].first, 256);
      spec.study_uid = files[index].second;
      spec.series_uid = spec.study_uid + ".1";
      spec.sop_uid = spec.series_uid + "." + std::to_string(index + 1);
      spec.instance_number = static_cast<int>(index + 1);
      const fs::path file = folder.path() / "in" / (std::to_string(index) + ".dcm");
      fs::create_directories(file.parent_path());
      write_radiograph(file, spec);
      images.push_back(
          prediction(file, spec.study_uid, index == 2 ? 0.91 : 0.2 + 0.1 * static_cast<double>(index)));
    }
    studies = {study_of("1.2.826.0.1.3680043.10.543.31", 0.25, 2),
               study_of("1.2.826.0.1.3680043.10.543.32", 0.91, 1)};
  }
};

std::vector<fs::path> objects_under(const fs::path& folder) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(folder))
    if (entry.is_regular_file()) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

TEST(DicomResultsWriterTest, WritesAReportAndACapturePerImageIntoEachStudysFolder) {
  TwoStudies run;
  auto writer = make_writer({});
  write_run(writer, run.images, run.studies, run.folder.path() / "out");
  const auto files = objects_under(run.folder.path() / "out/dicom");
  ASSERT_EQ(files.size(), 5u) << "2 reports and 3 captures";
  for (const auto& file : files) {
    EXPECT_TRUE(dciodvfy_errors(file).empty()) << dciodvfy_report(file);
    EXPECT_EQ(file.filename().string().find(".part"), std::string::npos) << "no temporary left";
  }
  const std::string sha = sha256_of_file(model_file);
  const auto uids = ResultUids::of("1.2.826.0.1.3680043.10.543.77", "1.2.826.0.1.3680043.10.543.32", sha);
  const fs::path report =
      run.folder.path() / "out/dicom/1.2.826.0.1.3680043.10.543.32" / (uids.report_instance + ".dcm");
  ASSERT_TRUE(fs::exists(report));
  const std::string content = dsrdump(report);
  EXPECT_NE(content.find("\"Finding\")=(263654008,SCT,\"Abnormal\")"), std::string::npos) << content;
  EXPECT_NE(content.find("\"Finding Site\")=(85562004,SCT,\"Hand\")"), std::string::npos) << content;
  EXPECT_NE(content.find("\"Probability\")=\"0.9100\""), std::string::npos) << content;
}

TEST(DicomResultsWriterTest, ARerunWritesTheSameObjectsUnderTheSameUids) {
  TwoStudies run;
  write_run(make_writer({}), run.images, run.studies, run.folder.path() / "first");
  write_run(make_writer({}), run.images, run.studies, run.folder.path() / "second");
  std::vector<std::string> first, second;
  for (const auto& file : objects_under(run.folder.path() / "first"))
    first.push_back(file.filename().string());
  for (const auto& file : objects_under(run.folder.path() / "second"))
    second.push_back(file.filename().string());
  EXPECT_EQ(first, second);
  write_run(make_writer({{"uid_root", std::string("1.2.826.0.1.3680043.10.543.78")}}), run.images, run.studies,
            run.folder.path() / "other-root");
  for (const auto& file : objects_under(run.folder.path() / "other-root"))
    EXPECT_TRUE(file.filename().string().starts_with("1.2.826.0.1.3680043.10.543.78.")) << file;
}

TEST(DicomResultsWriterTest, ReportsOnlyWhenAsked) {
  TwoStudies run;
  write_run(make_writer({{"captures", false}}), run.images, run.studies, run.folder.path() / "out");
  EXPECT_EQ(objects_under(run.folder.path() / "out/dicom").size(), 2u);
}

// The dump of each capture of a run's output, in file order (reports left out).
std::vector<std::string> capture_dumps(const fs::path& folder) {
  std::vector<std::string> dumps;
  for (const auto& file : objects_under(folder)) {
    std::string dump = dcmdump(file);
    if (dump.find("=SecondaryCaptureImageStorage") != std::string::npos) dumps.push_back(std::move(dump));
  }
  return dumps;
}

TEST(DicomResultsWriterTest, BlendsTheHeatmapsTheHostHandsItIntoTheCaptures) {
  EXPECT_TRUE(make_writer({}).wants_heatmaps()) << "overlay is on by default";
  EXPECT_FALSE(make_writer({{"overlay", false}}).wants_heatmaps());
  EXPECT_FALSE(make_writer({{"captures", false}}).wants_heatmaps()) << "no captures, nothing to draw on";

  TwoStudies run;
  write_run(make_writer({}), run.images, run.studies, run.folder.path() / "plain");
  for (auto& image : run.images) {
    image.heatmap = cv::Mat(12, 9, CV_32FC1, cv::Scalar(0.0f));
    image.heatmap(cv::Rect(0, 0, 4, 4)).setTo(1.0f); // the top-left corner is where the model looked
  }
  write_run(make_writer({}), run.images, run.studies, run.folder.path() / "overlay");
  write_run(make_writer({{"overlay", false}}), run.images, run.studies, run.folder.path() / "overlay-off");

  const auto plain = capture_dumps(run.folder.path() / "plain/dicom");
  const auto overlay = capture_dumps(run.folder.path() / "overlay/dicom");
  const auto off = capture_dumps(run.folder.path() / "overlay-off/dicom");
  ASSERT_EQ(plain.size(), 3u);
  ASSERT_EQ(overlay.size(), 3u);
  ASSERT_EQ(off.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(plain[i].find("Grad-CAM"), std::string::npos) << "no heatmap given, none claimed";
    EXPECT_NE(overlay[i].find("the Grad-CAM heatmap blended in"), std::string::npos) << overlay[i];
    EXPECT_EQ(off[i].find("Grad-CAM"), std::string::npos) << "overlay = false draws none";
  }
  for (const auto& file : objects_under(run.folder.path() / "overlay/dicom"))
    EXPECT_TRUE(dciodvfy_errors(file).empty()) << dciodvfy_report(file);
}

TEST(DicomResultsWriterTest, RefusesAThresholdThatContradictsTheVerdicts) {
  TwoStudies run;
  auto writer = make_writer({{"threshold", 0.95}});
  try {
    write_run(writer, run.images, run.studies, run.folder.path() / "out");
    FAIL() << "a study called abnormal at 0.91 contradicts the threshold 0.95";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "threshold");
    EXPECT_NE(std::string(error.what()).find("1.2.826.0.1.3680043.10.543.32"), std::string::npos)
        << error.what();
  }
}

TEST(DicomResultsWriterTest, SaysWhichStudiesHaveNoResultsWhenTheirSourcesAreNotDicom) {
  TwoStudies run;
  run.images.push_back(
      prediction(fs::path(RADPIPE_SOURCE_DIR) / "samples/fracatlas/images/IMG0000351.jpg", "jpeg", 0.3));
  run.studies.push_back(study_of("jpeg", 0.3, 1));
  auto writer = make_writer({});
  try {
    write_run(writer, run.images, run.studies, run.folder.path() / "out");
    FAIL() << "a JPEG source has no DICOM results";
  } catch (const StageError& error) {
    EXPECT_NE(std::string(error.what()).find("1 studies have no DICOM results; the first: study jpeg"),
              std::string::npos)
        << error.what();
  }
  EXPECT_EQ(objects_under(run.folder.path() / "out/dicom").size(), 5u) << "the DICOM studies are written";
}

TEST(DicomResultsWriterTest, RefusesBadSettingsByKey) {
  const auto key_of = [](std::map<std::string, ParamValue> values) {
    try {
      make_writer(std::move(values));
    } catch (const StageError& error) {
      return error.key();
    }
    return std::string("(accepted)");
  };
  EXPECT_EQ(key_of({{"uid_root", std::string("1.2.03")}}), "uid_root");
  EXPECT_EQ(key_of({{"model_name", std::string("Modèle")}}), "model_name");
  EXPECT_EQ(key_of({{"report", false}, {"captures", false}}), "report");
  EXPECT_EQ(key_of({{"folder", std::string("../elsewhere")}}), "folder");
  EXPECT_EQ(key_of({{"capture_series_number", std::int64_t{9901}}}), "capture_series_number");
}

TEST(DicomResultsPlugin, EntryDescribesItAndRegistersItsWriter) {
  radpipe::testing::expect_plugin_library(fs::path(RADPIPE_PLUGIN_DIR) / "libradpipe-dicom_results.so",
                                          "dicom_results", {{radpipe::StageKind::Writer, "dicom_results"}});
}

} // namespace
} // namespace radpipe::dicom_results
