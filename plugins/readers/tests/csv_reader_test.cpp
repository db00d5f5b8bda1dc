#include "csv_reader.hpp"

#include <gtest/gtest.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <radpipe/error.hpp>
#include <radpipe/testing.hpp>
#include <thread>

#include "test_support.hpp"

namespace radpipe::readers {
namespace {

using radpipe::testing::TempFolder;
using testing::fracatlas_dir;
using namespace std::string_literals;
using testing::enumerate;

// The FracAtlas columns, then `overrides`.
Params fracatlas_params(const std::map<std::string, ParamValue>& overrides) {
  std::map<std::string, ParamValue> values{{"file", (fracatlas_dir() / "labels.csv").string()},
                                           {"label_column", "fractured"s},
                                           {"body_part_column", "body_part"s}};
  for (const auto& [name, value] : overrides) values.insert_or_assign(name, value);
  return resolve_params(CsvReader::schema(), std::move(values));
}

// Expects building a CsvReader from `params` to throw StageError on `key` whose message contains
// every one of `fragments`.
void expect_stage_error(const Params& params, const std::string& key,
                        const std::vector<std::string>& fragments) {
  try {
    CsvReader reader(params, StageContext{});
    FAIL() << "expected a StageError on " << key;
  } catch (const StageError& error) {
    EXPECT_EQ(error.key(), key) << error.what();
    for (const auto& fragment : fragments)
      EXPECT_NE(std::string(error.what()).find(fragment), std::string::npos)
          << "missing \"" << fragment << "\" in: " << error.what();
  }
}

TEST(CsvReader, FracAtlasValidSplitHas605Rows) {
  // awk -F, 'NR>1 && $10=="valid"' labels.csv | wc -l  → 605; 109 of them fractured.
  CsvReader reader(fracatlas_params({{"split", "valid"s}}), StageContext{});
  EXPECT_EQ(reader.size_hint(), 605u);
  const auto infos = enumerate(reader);
  ASSERT_EQ(infos.size(), 605u);

  // First valid row: images/IMG0000005.jpg,leg,0,0,0,1,0,1,1,valid
  const auto& first = infos.front();
  EXPECT_EQ(first.id, "images/IMG0000005");
  EXPECT_EQ(first.path, (fracatlas_dir() / "images" / "IMG0000005.jpg").lexically_normal().string());
  EXPECT_EQ(first.body_part, "leg");
  EXPECT_EQ(first.label, 0);
  EXPECT_EQ(first.split, "valid");
  EXPECT_EQ(first.study_key(), first.id);
  EXPECT_EQ(first.tags, (std::map<std::string, std::string>{{"fracture_count", "0"},
                                                            {"hardware", "0"},
                                                            {"multiscan", "1"},
                                                            {"frontal", "0"},
                                                            {"lateral", "1"},
                                                            {"oblique", "1"}}));
  // Last valid row: images/IMG0004389.jpg,hip,0,...,valid
  EXPECT_EQ(infos.back().id, "images/IMG0004389");
  EXPECT_EQ(infos.back().body_part, "hip");
  EXPECT_EQ(infos.back().index, 604u);

  std::size_t fractured = 0;
  for (const auto& info : infos) fractured += info.label.value() == 1 ? 1 : 0;
  EXPECT_EQ(fractured, 109u);
}

TEST(CsvReader, FracAtlasSplitsAddUp) {
  EXPECT_EQ(CsvReader(fracatlas_params({{"split", "train"s}}), StageContext{}).size_hint(), 2814u);
  EXPECT_EQ(CsvReader(fracatlas_params({}), StageContext{}).size_hint(), 3419u);
  CsvReader none(fracatlas_params({{"split", "test"s}}), StageContext{}); // held out, not distributed
  EXPECT_EQ(none.size_hint(), 0u);
  EXPECT_FALSE(none.next().has_value());
}

TEST(CsvReader, LoadsRealFracAtlasImages) {
  CsvReader reader(fracatlas_params({{"split", "valid"s}}), StageContext{});
  // IMG0000005 is colour 421x512, IMG0000008 gray 410x512.
  const Sample colour = reader.load(*reader.next());
  EXPECT_EQ(colour.info.id, "images/IMG0000005");
  EXPECT_EQ(colour.image.type(), CV_8UC3);
  EXPECT_EQ(colour.image.size(), cv::Size(421, 512));
  const Sample gray = reader.load(*reader.next());
  EXPECT_EQ(gray.info.id, "images/IMG0000008");
  EXPECT_EQ(gray.image.type(), CV_8UC1);
  EXPECT_EQ(gray.image.size(), cv::Size(410, 512));
  const Sample third = reader.load(*reader.next());
  EXPECT_FALSE(third.image.empty());
  EXPECT_EQ(third.image.depth(), CV_8U);
}

TEST(CsvReader, ConcurrentLoadsMatchSequentialOnes) {
  CsvReader reader(fracatlas_params({{"split", "valid"s}}), StageContext{});
  std::vector<SampleInfo> infos;
  for (int i = 0; i < 24; ++i) infos.push_back(*reader.next());
  std::vector<double> sequential;
  for (const auto& info : infos) sequential.push_back(cv::sum(reader.load(info).image)[0]);

  std::vector<double> concurrent(infos.size());
  {
    std::vector<std::jthread> workers;
    for (std::size_t worker = 0; worker < 4; ++worker)
      workers.emplace_back([&, worker] {
        for (std::size_t i = worker; i < infos.size(); i += 4)
          concurrent[i] = cv::sum(reader.load(infos[i]).image)[0];
      });
  }
  EXPECT_EQ(concurrent, sequential);
  EXPECT_GT(sequential.front(), 0.0);
}

TEST(CsvReader, QuotingLabelWordsAndOptionalColumns) {
  TempFolder scratch;
  const auto file = scratch.write("set.csv",
                                  "\xEF\xBB\xBFpatient,study,path,outcome,Part,note\r\n"
                                  "p1,s1,\"scans/a,1.png\",Abnormal, Hand ,\"said \"\"ok\"\"\"\r\n"
                                  "p1,s1,scans/b.png,no,HAND,\"two\r\nlines\"\r\n"
                                  "p2,s2,scans/c.png, TRUE ,wrist,\r\n"
                                  "p2,s2,scans/d.png,3,wrist,x\r\n"
                                  "p3,s3,scans/e.png,,elbow,unknown label\r\n");
  CsvReader reader(resolve_params(CsvReader::schema(), {{"file", file.string()},
                                                        {"image_column", "path"s},
                                                        {"label_column", "outcome"s},
                                                        {"body_part_column", "Part"s},
                                                        {"patient_column", "patient"s},
                                                        {"study_column", "study"s}}),
                   StageContext{});
  EXPECT_EQ(reader.size_hint(), 5u);
  const auto infos = enumerate(reader);
  ASSERT_EQ(infos.size(), 5u);
  EXPECT_EQ(infos[0].id, "scans/a,1");
  EXPECT_EQ(infos[0].path, (scratch.path() / "scans" / "a,1.png").string());
  EXPECT_EQ(infos[0].label, 1);
  EXPECT_EQ(infos[0].body_part, "hand");
  EXPECT_EQ(infos[0].patient_id, "p1");
  EXPECT_EQ(infos[0].study_key(), "s1");
  EXPECT_EQ(infos[0].tags, (std::map<std::string, std::string>{{"note", "said \"ok\""}}));
  EXPECT_TRUE(infos[0].split.empty()); // no split column in this file
  EXPECT_EQ(infos[1].label, 0);
  EXPECT_EQ(infos[1].body_part, "hand");
  EXPECT_EQ(infos[1].tags.at("note"), "two\nlines");
  EXPECT_EQ(infos[2].label, 1);
  EXPECT_EQ(infos[3].label, 3);
  EXPECT_FALSE(infos[4].label.has_value()); // an empty cell is an unknown label
  EXPECT_EQ(infos[4].index, 4u);
}

TEST(CsvReader, IdColumnImageRootAndUnlabelled) {
  TempFolder scratch;
  const auto file = scratch.write("lists/set.csv", "name,image,label\nfirst,a.png,1\nsecond,b.png,0\n");
  std::filesystem::create_directories(scratch.path() / "pixels");
  CsvReader reader(
      resolve_params(CsvReader::schema(), {{"file", file.string()},
                                           {"id_column", "name"s},
                                           {"label_column", ""s},
                                           {"image_root", (scratch.path() / "pixels").string()}}),
      StageContext{});
  const auto infos = enumerate(reader);
  ASSERT_EQ(infos.size(), 2u);
  EXPECT_EQ(infos[1].id, "second");
  EXPECT_EQ(infos[1].path, (scratch.path() / "pixels" / "b.png").string());
  EXPECT_FALSE(infos[1].label.has_value());
  EXPECT_EQ(infos[1].tags,
            (std::map<std::string, std::string>{{"label", "0"}})); // unused columns become tags
}

TEST(CsvReader, LoadDecodesAnImageTheTestWrote) {
  TempFolder scratch;
  cv::Mat written(6, 9, CV_16UC1, cv::Scalar(700));
  written.at<std::uint16_t>(5, 8) = 65535;
  ASSERT_TRUE(cv::imwrite((scratch.path() / "deep.png").string(), written));
  const auto file = scratch.write("set.csv", "image,label\ndeep.png,1\n");
  CsvReader reader(resolve_params(CsvReader::schema(), {{"file", file.string()}}), StageContext{});
  const Sample sample = reader.load(*reader.next());
  ASSERT_EQ(sample.image.type(), CV_16UC1);
  EXPECT_EQ(sample.image.at<std::uint16_t>(5, 8), 65535);
  EXPECT_EQ(sample.image.at<std::uint16_t>(0, 0), 700);
  EXPECT_EQ(sample.info.label, 1);
}

TEST(CsvReader, MissingColumnListsTheHeader) {
  expect_stage_error(fracatlas_params({{"label_column", "fracture"s}}), "label_column",
                     {"column \"fracture\" is not in the header", "labels.csv",
                      "\"image\", \"body_part\", \"fractured\", \"fracture_count\", \"hardware\", "
                      "\"multiscan\", \"frontal\", "
                      "\"lateral\", \"oblique\", \"split\"",
                      "or to \"\""});
  expect_stage_error(fracatlas_params({{"image_column", "file"s}}), "image_column",
                     {"column \"file\"", "\"image\", \"body_part\""});
}

TEST(CsvReader, SplitWithoutSplitColumnIsAnError) {
  TempFolder scratch;
  const auto file = scratch.write("set.csv", "image,label\na.png,1\n");
  expect_stage_error(resolve_params(CsvReader::schema(), {{"file", file.string()}, {"split", "valid"s}}),
                     "split_column", {"column \"split\" is not in the header", "\"image\", \"label\""});
  // Without a split filter the absent default column is fine.
  EXPECT_EQ(
      CsvReader(resolve_params(CsvReader::schema(), {{"file", file.string()}}), StageContext{}).size_hint(),
      1u);
}

TEST(CsvReader, BadLabelNamesFileLineAndColumn) {
  TempFolder scratch;
  const auto file = scratch.write("set.csv", "image,label\na.png,1\nb.png,yes\n\"c\n.png\",0\nd.png,maybe\n");
  expect_stage_error(resolve_params(CsvReader::schema(), {{"file", file.string()}}), "label_column",
                     {file.string() + ":6:", "column \"label\"", "\"maybe\""});
}

TEST(CsvReader, WrongFieldCountNamesTheLine) {
  TempFolder scratch;
  const auto file = scratch.write("set.csv", "image,label\na.png,1\nb,c.png,0\n");
  expect_stage_error(resolve_params(CsvReader::schema(), {{"file", file.string()}}), "file",
                     {file.string() + ":3:", "3 fields but the header has 2"});
}

TEST(CsvReader, DuplicateIdIsAnError) {
  TempFolder scratch;
  const auto file = scratch.write("set.csv", "image,label\nx/a.png,1\nx/a.jpg,0\n");
  expect_stage_error(resolve_params(CsvReader::schema(), {{"file", file.string()}}), "image_column",
                     {file.string() + ":3:", "id \"x/a\""});
}

TEST(CsvReader, FilterKeepsMatchingFracAtlasRows) {
  // awk -F, 'NR>1 && ($2=="hand"||$2=="leg") && $10=="train"' labels.csv | wc -l  → 2345
  CsvReader hands_and_legs(
      fracatlas_params({{"filter", R"(body_part in ["hand", "leg"] and split == "train")"s}}),
      StageContext{});
  EXPECT_EQ(hands_and_legs.size_hint(), 2345u);
  for (const auto& info : enumerate(hands_and_legs)) {
    EXPECT_TRUE(info.body_part == "hand" || info.body_part == "leg") << info.id;
    EXPECT_EQ(info.split, "train");
  }
  // awk -F, 'NR>1 && !($2=="hand"||$2=="leg") && $10!="train"' labels.csv | wc -l  → 101
  EXPECT_EQ(
      CsvReader(fracatlas_params({{"filter", R"(not (body_part in ["hand", "leg"] or split == "train"))"s}}),
                StageContext{})
          .size_hint(),
      101u);
}

TEST(CsvReader, FilterAndSplitBothApply) {
  // 3419 rows, 605 valid; none of the valid rows has split "train", so both together keep nothing.
  EXPECT_EQ(
      CsvReader(fracatlas_params({{"split", "valid"s}, {"filter", "split == 'train'"s}}), StageContext{})
          .size_hint(),
      0u);
}

TEST(CsvReader, FilterErrorsNameTheCharacter) {
  expect_stage_error(fracatlas_params({{"filter", "split = 'train'"s}}), "filter",
                     {"at character 7 of 'split = 'train''", "'=='"});
  expect_stage_error(fracatlas_params({{"filter", "split == 'train' and part == 'hand'"s}}), "filter",
                     {"at character 22", "column \"part\" is not in the header", "\"body_part\""});
}

TEST(CsvReader, ViewColumnIsLowerCased) {
  TempFolder scratch;
  const auto file = scratch.write("set.csv", "image,label,view\na.png,0, Lateral \n");
  CsvReader reader(resolve_params(CsvReader::schema(), {{"file", file.string()}, {"view_column", "view"s}}),
                   StageContext{});
  EXPECT_EQ(reader.next()->view, "lateral");
}

TEST(CsvReader, EmptyFileIsAnError) {
  TempFolder scratch;
  const auto file = scratch.write("set.csv", "");
  expect_stage_error(resolve_params(CsvReader::schema(), {{"file", file.string()}}), "file",
                     {"is empty", "header row"});
}

} // namespace
} // namespace radpipe::readers
