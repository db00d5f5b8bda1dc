#include "mura_reader.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <opencv2/core.hpp>
#include <radpipe/error.hpp>
#include <radpipe/mura_tree.hpp>
#include <radpipe/testing.hpp>
#include <set>

#include "image_listing.hpp"
#include "test_support.hpp"

namespace radpipe::readers {
namespace {

using radpipe::testing::MuraStudy;
using radpipe::testing::TempFolder;
using namespace std::string_literals;
using testing::enumerate;

// Two patients with two studies between them in train, one in valid; written by the test.
const std::vector<MuraStudy> small_mura{
    {"train", "XR_WRIST", "00001", 1, true, 2},
    {"train", "XR_WRIST", "00001", 2, false, 1},
    {"train", "XR_ELBOW", "00002", 1, false, 1},
    {"valid", "XR_WRIST", "11185", 1, true, 3},
};

class Mura : public ::testing::Test {
 protected:
  void SetUp() override { radpipe::testing::write_mura_tree(root(), small_mura); }
  std::filesystem::path root() const { return scratch_.path() / "MURA-v1.1"; }
  MuraReader make(std::map<std::string, ParamValue> values) const {
    values.emplace("root", root().string());
    return MuraReader(resolve_params(MuraReader::schema(), std::move(values)), StageContext{});
  }
  TempFolder scratch_;
};

TEST(MuraPath, ParsesEveryPart) {
  std::string problem;
  const auto path =
      parse_mura_path("MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/image1.png", problem);
  ASSERT_TRUE(path) << problem;
  EXPECT_EQ(path->prefix, "MURA-v1.1");
  EXPECT_EQ(path->split, "valid");
  EXPECT_EQ(path->body_part, "wrist");
  EXPECT_EQ(path->patient_id, "11185");
  EXPECT_EQ(path->study_folder, "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/");
  EXPECT_EQ(path->label, 1);
  EXPECT_EQ(path->image, "image1.png");
  EXPECT_EQ(path->relative, "valid/XR_WRIST/patient11185/study1_positive/image1.png");

  const auto study = parse_mura_path("MURA-v1.1/train/XR_SHOULDER/patient00001/study3_negative/", problem);
  ASSERT_TRUE(study);
  EXPECT_TRUE(study->image.empty());
  EXPECT_EQ(study->label, 0);
  EXPECT_EQ(study->body_part, "shoulder");
}

TEST(MuraPath, RejectsOtherLayoutsSayingWhy) {
  std::string problem;
  EXPECT_FALSE(parse_mura_path("MURA-v1.1/train/WRIST/patient1/study1_positive/image1.png", problem));
  EXPECT_NE(problem.find("expected a body-part folder such as XR_WRIST, found 'WRIST'"), std::string::npos)
      << problem;
  EXPECT_FALSE(parse_mura_path("MURA-v1.1/train/XR_HAND/patient1/study1/image1.png", problem));
  EXPECT_NE(problem.find("found 'study1'"), std::string::npos) << problem;
  EXPECT_FALSE(parse_mura_path("MURA-v1.1/train/XR_HAND/p1/study1_positive/image1.png", problem));
  EXPECT_NE(problem.find("patient folder"), std::string::npos) << problem;
  EXPECT_FALSE(parse_mura_path("MURA-v1.1/other/XR_HAND", problem));
  EXPECT_NE(problem.find("split folder"), std::string::npos) << problem;
}

TEST_F(Mura, ReadsTheCsvFilesByDefault) {
  auto reader = make({});
  // 2 + 1 + 1 train images, then 3 valid ones, in the CSV's order.
  ASSERT_EQ(reader.size_hint(), 7u);
  const auto infos = enumerate(reader);
  ASSERT_EQ(infos.size(), 7u);
  const auto& first = infos.front();
  EXPECT_EQ(first.id, "MURA-v1.1/train/XR_WRIST/patient00001/study1_positive/image1");
  EXPECT_EQ(first.path, (root() / "train/XR_WRIST/patient00001/study1_positive/image1.png").string());
  EXPECT_EQ(first.study_id, "MURA-v1.1/train/XR_WRIST/patient00001/study1_positive/");
  EXPECT_EQ(first.patient_id, "00001");
  EXPECT_EQ(first.body_part, "wrist");
  EXPECT_EQ(first.split, "train");
  EXPECT_EQ(first.label, 1);
  EXPECT_EQ(infos[2].label, 0); // study2_negative
  EXPECT_EQ(infos[3].body_part, "elbow");
  const auto& last = infos.back();
  EXPECT_EQ(last.study_id, "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/");
  EXPECT_EQ(last.split, "valid");
  EXPECT_EQ(last.index, 6u);
  // image3 of that study was written filled with 10 * 3.
  const Sample sample = reader.load(last);
  ASSERT_EQ(sample.image.type(), CV_8UC1);
  EXPECT_EQ(sample.image.at<unsigned char>(4, 4), 30);
}

TEST_F(Mura, ScanGivesTheSameEntriesAsTheCsvFiles) {
  auto from_csv = make({{"source", "csv"s}});
  auto scanned = make({{"source", "scan"s}});
  auto key = [](const SampleInfo& info) {
    return info.id + "|" + info.path + "|" + info.study_id + "|" + info.patient_id + "|" + info.body_part +
           "|" + info.split + "|" + std::to_string(info.label.value_or(-1));
  };
  std::set<std::string> csv_keys, scan_keys;
  for (const auto& info : enumerate(from_csv)) csv_keys.insert(key(info));
  for (const auto& info : enumerate(scanned)) scan_keys.insert(key(info));
  EXPECT_EQ(csv_keys.size(), 7u);
  EXPECT_EQ(scan_keys, csv_keys);
  EXPECT_EQ(scanned.size_hint(), 7u);
}

TEST_F(Mura, AutoScansWhenTheCsvFilesAreMissing) {
  std::filesystem::remove(root() / "valid_image_paths.csv");
  auto reader = make({});
  EXPECT_EQ(reader.size_hint(), 7u); // by scanning
  try {
    make({{"source", "csv"s}});
    FAIL() << "source = \"csv\" without the CSV file";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "source");
    EXPECT_NE(std::string(error.what()).find("valid_image_paths.csv is not there"), std::string::npos)
        << error.what();
  }
}

TEST_F(Mura, SplitsAndBodyPartsNarrowTheListing) {
  auto valid = make({{"splits", std::vector{"valid"s}}});
  EXPECT_EQ(valid.size_hint(), 3u);
  auto elbows = make({{"body_parts", std::vector{"Elbow"s}}});
  const auto infos = enumerate(elbows);
  ASSERT_EQ(infos.size(), 1u);
  EXPECT_EQ(infos[0].patient_id, "00002");
  auto scanned_wrists = make({{"source", "scan"s}, {"body_parts", std::vector{"wrist"s}}});
  EXPECT_EQ(scanned_wrists.size_hint(), 6u); // 2 + 1 train, 3 valid
  EXPECT_THROW(make({{"body_parts", std::vector{"knee"s}}}), StageError);
  EXPECT_THROW(make({{"splits", std::vector{"valid"s, "valid"s}}}), StageError);
}

TEST_F(Mura, LabelThatDisagreesWithTheFolderNameIsReported) {
  // Line 2 of train_labeled_studies.csv is study2_negative of patient 00001; label it 1.
  const auto file = root() / "train_labeled_studies.csv";
  scratch_.write("MURA-v1.1/train_labeled_studies.csv",
                 "MURA-v1.1/train/XR_WRIST/patient00001/study1_positive/,1\n"
                 "MURA-v1.1/train/XR_WRIST/patient00001/study2_negative/,1\n"
                 "MURA-v1.1/train/XR_ELBOW/patient00002/study1_negative/,0\n");
  try {
    make({});
    FAIL() << "the mismatch was not reported";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "check_labels");
    EXPECT_NE(
        std::string(error.what())
            .find("1 study of " + file.string() + " disagrees with the folder names: " + file.string() +
                  ":2: MURA-v1.1/train/XR_WRIST/patient00001/study2_negative/ is labelled 1 but its folder "
                  "name says negative (0)"),
        std::string::npos)
        << error.what();
  }
  EXPECT_EQ(make({{"check_labels", false}}).size_hint(), 7u);
}

TEST_F(Mura, MalformedCsvRowNamesFileAndLine) {
  scratch_.write("MURA-v1.1/valid_image_paths.csv",
                 "MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/image1.png\n"
                 "MURA-v1.1/valid/XR_WRIST/patient11185/study1/image2.png\n");
  try {
    make({{"check_labels", false}});
    FAIL() << "a malformed row was accepted";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "root");
    EXPECT_NE(std::string(error.what()).find("valid_image_paths.csv:2: "), std::string::npos) << error.what();
    EXPECT_NE(std::string(error.what()).find("found 'study1'"), std::string::npos) << error.what();
  }
}

TEST_F(Mura, ScanListsBrokenEntriesSoThatLoadingThemSaysWhy) {
  const auto train = root() / "train";
  // Where a patient folder belongs: a file. Where a study folder belongs: a dangling symbolic link.
  scratch_.write("MURA-v1.1/train/XR_WRIST/patient00003", "not a folder");
  std::filesystem::create_directories(train / "XR_ELBOW" / "patient00004");
  std::filesystem::create_symlink(scratch_.path() / "gone",
                                  train / "XR_ELBOW" / "patient00004" / "study1_positive");
  // An image that is a FIFO, and one that is truncated: listed, failing on load.
  ASSERT_EQ(::mkfifo((train / "XR_ELBOW/patient00002/study1_negative/image2.png").c_str(), 0600), 0);
  scratch_.write("MURA-v1.1/train/XR_ELBOW/patient00002/study1_negative/image3.png", "\x89PNG\r\n\x1a\n");
  // Entries that are not part of the layout are ignored.
  scratch_.write("MURA-v1.1/train/README.txt", "notes");

  auto reader = make({{"source", "scan"s}, {"splits", std::vector{"train"s}}});
  std::map<std::string, std::string> failures; // id -> reason
  std::size_t loaded = 0;
  for (const auto& info : enumerate(reader)) {
    try {
      EXPECT_FALSE(reader.load(info).image.empty());
      ++loaded;
    } catch (const SampleError& error) {
      EXPECT_EQ(error.path(), info.path);
      failures.emplace(info.id, error.what());
    }
  }
  EXPECT_EQ(loaded, 4u); // the four train images written by write_mura_tree
  ASSERT_EQ(failures.size(), 4u);
  EXPECT_NE(
      failures.at("MURA-v1.1/train/XR_WRIST/patient00003").find("expected a patient folder, found a file"),
      std::string::npos);
  EXPECT_NE(failures.at("MURA-v1.1/train/XR_ELBOW/patient00004/study1_positive")
                .find("expected a study folder, found a dangling symbolic link"),
            std::string::npos);
  EXPECT_NE(
      failures.at("MURA-v1.1/train/XR_ELBOW/patient00002/study1_negative/image2").find("not a regular file"),
      std::string::npos);
  EXPECT_NE(failures.at("MURA-v1.1/train/XR_ELBOW/patient00002/study1_negative/image3").find("cannot decode"),
            std::string::npos);
}

TEST(MuraReader, RootWithoutSplitFoldersIsAnError) {
  TempFolder scratch;
  try {
    MuraReader reader(
        resolve_params(MuraReader::schema(), {{"root", scratch.path().string()}, {"check_labels", false}}),
        StageContext{});
    FAIL() << "an empty folder is no MURA tree";
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), "root");
    EXPECT_NE(std::string(error.what()).find("there is no folder train under"), std::string::npos)
        << error.what();
  }
}

} // namespace
} // namespace radpipe::readers
