// The `class_folders` and `study_folder` readers on folders the tests write.
#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>

#include "class_folders_reader.hpp"
#include "study_folder_reader.hpp"
#include "test_support.hpp"

namespace radpipe::readers {
namespace {

using radpipe::testing::TempFolder;
using namespace std::string_literals;
using testing::enumerate;

void write_image(const std::filesystem::path& file, int value) {
  std::filesystem::create_directories(file.parent_path());
  ASSERT_TRUE(cv::imwrite(file.string(), cv::Mat(6, 6, CV_8UC1, cv::Scalar(value)))) << file;
}

template <class ReaderType>
void expect_stage_error(std::map<std::string, ParamValue> values, const std::string& key,
                        const std::string& fragment) {
  try {
    ReaderType reader(resolve_params(ReaderType::schema(), std::move(values)), StageContext{});
    FAIL() << "expected a StageError on " << key;
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), key) << error.what();
    EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos) << error.what();
  }
}

// root/normal/{a,b}.png, root/abnormal/{c.png, deeper/d.jpg}, root/notes.txt.
class ClassFolders : public ::testing::Test {
 protected:
  void SetUp() override {
    write_image(root() / "normal" / "b.png", 2);
    write_image(root() / "normal" / "a.png", 1);
    write_image(root() / "abnormal" / "c.png", 3);
    write_image(root() / "abnormal" / "deeper" / "d.jpg", 4);
    scratch_.write("notes.txt", "not a class");
  }
  const std::filesystem::path& root() const { return scratch_.path(); }
  ClassFoldersReader make(std::map<std::string, ParamValue> values) const {
    values.emplace("root", root().string());
    return ClassFoldersReader(resolve_params(ClassFoldersReader::schema(), std::move(values)),
                              StageContext{});
  }
  TempFolder scratch_;
};

TEST_F(ClassFolders, ClassesSortedByNameGiveTheLabels) {
  auto reader = make({});
  ASSERT_EQ(reader.size_hint(), 4u);
  const auto infos = enumerate(reader);
  // Sorted: "abnormal" < "normal", so abnormal is label 0 and normal label 1.
  std::vector<std::pair<std::string, int>> seen;
  for (const auto& info : infos) seen.emplace_back(info.id, info.label.value());
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, int>>{
                      {"abnormal/c", 0}, {"abnormal/deeper/d", 0}, {"normal/a", 1}, {"normal/b", 1}}));
  EXPECT_EQ(infos[2].tags.at("class"), "normal");
  EXPECT_EQ(infos[2].path, (root() / "normal" / "a.png").string());
  EXPECT_EQ(reader.load(infos[3]).image.at<unsigned char>(0, 0), 2);
}

TEST_F(ClassFolders, ExplicitClassesSetTheOrder) {
  auto reader = make({{"classes", std::vector{"normal"s, "abnormal"s}}, {"recursive", false}});
  const auto infos = enumerate(reader);
  ASSERT_EQ(infos.size(), 3u); // deeper/d.jpg is in a subfolder
  EXPECT_EQ(infos[0].id, "normal/a");
  EXPECT_EQ(infos[0].label, 0);
  EXPECT_EQ(infos[2].id, "abnormal/c");
  EXPECT_EQ(infos[2].label, 1);
}

TEST_F(ClassFolders, PositiveClassMakesABinaryTask) {
  write_image(root() / "unsure" / "e.png", 5);
  auto reader = make({{"positive_class", "abnormal"s}, {"body_part", "Hand"s}});
  for (const auto& info : enumerate(reader)) {
    EXPECT_EQ(info.label, info.tags.at("class") == "abnormal" ? 1 : 0) << info.id;
    EXPECT_EQ(info.body_part, "hand");
  }
}

TEST_F(ClassFolders, MistakesNameTheKey) {
  expect_stage_error<ClassFoldersReader>(
      {{"root", root().string()}, {"classes", std::vector{"normal"s, "fracture"s}}}, "classes",
      "no folder \"fracture\"");
  expect_stage_error<ClassFoldersReader>({{"root", root().string()}, {"positive_class", "fracture"s}},
                                         "positive_class", "\"abnormal\", \"normal\"");
  expect_stage_error<ClassFoldersReader>(
      {{"root", root().string()}, {"classes", std::vector{"normal"s, "normal"s}}}, "classes", "listed twice");
  expect_stage_error<ClassFoldersReader>({{"root", (root() / "notes.txt").string()}}, "root",
                                         "is not a folder");
}

// 20 normal and 10 abnormal images, 30% valid and 20% test: 6 + 3 valid, 4 + 2 test, per class,
// the same ones for the same seed, others for another seed, and none without the option.
TEST(ClassFoldersSplit, ASeededStratifiedSplitPerClass) {
  TempFolder scratch;
  for (int i = 0; i < 20; ++i) write_image(scratch.path() / "normal" / (std::to_string(i) + ".png"), i);
  for (int i = 0; i < 10; ++i) write_image(scratch.path() / "abnormal" / (std::to_string(i) + ".png"), i);
  auto listing = [&](std::map<std::string, ParamValue> values, std::uint64_t pipeline_seed) {
    values.emplace("root", scratch.path().string());
    StageContext context;
    context.seed = pipeline_seed;
    ClassFoldersReader reader(resolve_params(ClassFoldersReader::schema(), std::move(values)), context);
    std::map<std::string, std::string> split_of;
    for (const auto& info : enumerate(reader)) split_of[info.id] = info.split;
    return split_of;
  };
  const auto split = listing({{"valid_fraction", 0.3}, {"test_fraction", 0.2}}, 5);
  std::map<std::string, int> counts;
  for (const auto& [id, name] : split) ++counts[id.substr(0, id.find('/')) + " " + name];
  EXPECT_EQ(counts, (std::map<std::string, int>{{"abnormal test", 2}, {"abnormal train", 5}, {"abnormal valid", 3},
                                                {"normal test", 4}, {"normal train", 10}, {"normal valid", 6}}));
  EXPECT_EQ(listing({{"valid_fraction", 0.3}, {"test_fraction", 0.2}}, 5), split);
  EXPECT_EQ(listing({{"valid_fraction", 0.3}, {"test_fraction", 0.2}, {"split_seed", std::int64_t{5}}}, 99), split);
  EXPECT_NE(listing({{"valid_fraction", 0.3}, {"test_fraction", 0.2}}, 6), split);
  for (const auto& [id, name] : listing({}, 5)) EXPECT_EQ(name, "") << id;
  expect_stage_error<ClassFoldersReader>({{"root", scratch.path().string()}, {"valid_fraction", 0.6}, {"test_fraction", 0.5}},
                                         "valid_fraction", "must leave images to train on");
}

TEST(StudyFolderReader, EveryImageIsOneUnlabelledStudy) {
  TempFolder scratch;
  const auto folder = scratch.path() / "study42";
  write_image(folder / "lateral.png", 7);
  write_image(folder / "frontal.jpg", 8);
  write_image(folder / "old" / "earlier.png", 9);
  StudyFolderReader reader(
      resolve_params(StudyFolderReader::schema(), {{"folder", folder.string()}, {"body_part", "Wrist"s}}),
      StageContext{});
  const auto infos = enumerate(reader);
  ASSERT_EQ(infos.size(), 2u); // not recursive by default
  EXPECT_EQ(infos[0].id, "study42/frontal");
  EXPECT_EQ(infos[1].id, "study42/lateral");
  for (const auto& info : infos) {
    EXPECT_EQ(info.study_id, "study42");
    EXPECT_EQ(info.body_part, "wrist");
    EXPECT_FALSE(info.label.has_value());
  }
  EXPECT_EQ(reader.load(infos[1]).image.at<unsigned char>(5, 5), 7);

  StudyFolderReader named(resolve_params(StudyFolderReader::schema(), {{"folder", folder.string() + "/"},
                                                                       {"study_id", "case-7"s},
                                                                       {"patient_id", "p7"s},
                                                                       {"recursive", true}}),
                          StageContext{});
  const auto all = enumerate(named);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[2].id, "case-7/old/earlier"); // sorted by path: frontal, lateral, old/earlier
  EXPECT_EQ(all[2].study_key(), "case-7");
  EXPECT_EQ(all[2].patient_id, "p7");
}

TEST(StudyFolderReader, FolderWithoutImagesIsAnError) {
  TempFolder scratch;
  scratch.write("empty/readme.txt", "x");
  expect_stage_error<StudyFolderReader>({{"folder", (scratch.path() / "empty").string()}}, "folder",
                                        "no files ending in .png, .jpg, .jpeg");
}

} // namespace
} // namespace radpipe::readers
