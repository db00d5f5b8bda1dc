// The real radpipe binary with the readers of issue #4: `radpipe split` on the shared FracAtlas
// data and on a generated MURA tree, the csv reader reading a split back through a filter, filter
// errors pointing at the pipeline file, and broken images skipped or fatal by on_error.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <radpipe/mura_tree.hpp>
#include <radpipe/testing.hpp>
#include <regex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using radpipe::testing::read_text;
using radpipe::testing::TempFolder;

namespace {

const fs::path source_dir = RADPIPE_SOURCE_DIR;
const fs::path fracatlas = fs::path(RADPIPE_SHARED_DIR) / "data" / "fracatlas";

radpipe::testing::CommandResult radpipe_run(const std::string& arguments) {
  return radpipe::testing::run_command(std::string(RADPIPE_EXECUTABLE) + " " + arguments);
}

// A complete pipeline around `reader` (a [reader] table's keys): the demo's model and
// preprocessing, so that it validates and can predict.
std::string pipeline_with(const std::string& reader, const std::string& settings = "") {
  return "[pipeline]\nname = \"readers-test\"\nseed = 5\nbatch_size = 8\n" + settings + "\n[reader]\n" +
         reader +
         "\n[[preprocess]]\nstage = \"grayscale\"\n[[preprocess]]\nstage = \"resize\"\nsize = [128, "
         "128]\nmode = \"pad\"\n"
         "[[preprocess]]\nstage = \"normalize\"\npreset = \"imagenet\"\n"
         "[model]\nstage = \"cnn\"\nblocks = 5\nwidth = 16\ninput_channels = 1\ndropout = 0.3\nweights = \"" +
         (source_dir / "samples" / "models" / "fracatlas-cnn5.pt").string() +
         "\"\ndevice = \"cpu\"\n[aggregate]\nstage = \"mean\"\nthreshold = 0.5\n";
}

// A CSV without quoted fields, as `radpipe split` writes these listings: header -> column index.
struct Table {
  std::map<std::string, std::size_t> columns;
  std::vector<std::vector<std::string>> rows;
  const std::string& at(std::size_t row, const std::string& column) const {
    return rows[row].at(columns.at(column));
  }
};

Table read_table(const fs::path& file) {
  Table table;
  std::istringstream text(read_text(file));
  std::string line;
  bool header = true;
  while (std::getline(text, line)) {
    std::vector<std::string> fields;
    std::stringstream cells(line + ",");
    std::string cell;
    while (std::getline(cells, cell, ',')) fields.push_back(cell);
    if (header) {
      for (std::size_t i = 0; i < fields.size(); ++i) table.columns[fields[i]] = i;
      header = false;
    } else {
      EXPECT_EQ(fields.size(), table.columns.size()) << line;
      table.rows.push_back(fields);
    }
  }
  return table;
}

TEST(ReadersCli, SplitsFracAtlasAndReadsTheSplitBack) {
  TempFolder scratch;
  const auto pipeline = scratch.path() / "fracatlas.toml";
  std::ofstream(pipeline) << pipeline_with(
      "stage = \"csv\"\nfile = \"" + (fracatlas / "labels.csv").string() +
      "\"\nlabel_column = \"fractured\"\nbody_part_column = \"body_part\"\n");
  const auto first = scratch.path() / "first.csv";
  auto run = radpipe_run("split " + pipeline.string() + " --out " + first.string() + " --valid 0.2 --seed 9");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const Table table = read_table(first);
  ASSERT_EQ(table.rows.size(), 3419u); // every image of labels.csv
  std::map<std::string, std::size_t> per_split;
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    ++per_split[table.at(row, "split")];
    EXPECT_TRUE(table.at(row, "patient").empty()); // FracAtlas has no patients: each image is its own group
  }
  EXPECT_EQ(per_split.size(), 2u);
  // Target 0.2 * 3419 = 683.8 valid images. Every group is one image, so each of the 10 strata
  // (2 labels x 5 body parts) is within one image of its own target: within 10 in all.
  EXPECT_LE(std::abs(static_cast<double>(per_split["valid"]) - 683.8), 10.0) << per_split["valid"];
  EXPECT_EQ(per_split["train"] + per_split["valid"], 3419u);
  EXPECT_EQ(table.at(0, "source_split"), "train"); // labels.csv's own split column is kept
  EXPECT_EQ(table.at(0, "label"), "0");

  // The same seed writes the same file; another seed another one.
  const auto again = scratch.path() / "again.csv", other = scratch.path() / "other.csv";
  ASSERT_EQ(radpipe_run("split " + pipeline.string() + " --out " + again.string() + " --valid 0.2 --seed 9")
                .exit_code,
            0);
  ASSERT_EQ(radpipe_run("split " + pipeline.string() + " --out " + other.string() + " --valid 0.2 --seed 10")
                .exit_code,
            0);
  EXPECT_EQ(read_text(again), read_text(first));
  EXPECT_NE(read_text(other), read_text(first));

  // The csv reader reads the split back through a filter: predict the first 12 valid images.
  const auto readback = scratch.path() / "readback.toml";
  std::ofstream(readback) << pipeline_with(
      "stage = \"csv\"\nfile = \"" + first.string() +
      "\"\nid_column = \"id\"\nbody_part_column = \"body_part\"\n"
      "filter = 'split == \"valid\" and body_part in [\"hand\", \"leg\"]'\n");
  run = radpipe_run("predict " + readback.string() + " --out " + (scratch.path() / "out").string() +
                    " --limit 12");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::set<std::string> valid_hands_and_legs;
  for (std::size_t row = 0; row < table.rows.size(); ++row)
    if (table.at(row, "split") == "valid" &&
        (table.at(row, "body_part") == "hand" || table.at(row, "body_part") == "leg"))
      valid_hands_and_legs.insert(table.at(row, "id"));
  const Table predictions = read_table(scratch.path() / "out" / "predictions.csv");
  ASSERT_EQ(predictions.rows.size(), 12u);
  for (const auto& row : predictions.rows)
    EXPECT_TRUE(valid_hands_and_legs.count(row.front())) << row.front();
}

TEST(ReadersCli, KFoldsOfAGeneratedMuraTreeKeepPatientsTogether) {
  TempFolder scratch;
  const auto root = scratch.path() / "MURA-v1.1";
  const auto studies = radpipe::testing::generated_mura_studies(60, 45);
  radpipe::testing::write_mura_tree(root, studies);
  std::size_t images = 0;
  for (const auto& study : studies) images += static_cast<std::size_t>(study.images);
  const auto pipeline = scratch.path() / "mura.toml";
  std::ofstream(pipeline) << pipeline_with("stage = \"mura\"\nroot = \"" + root.string() + "\"\n");
  const auto out = scratch.path() / "folds.csv";
  auto run = radpipe_run("split " + pipeline.string() + " --out " + out.string() + " --k 4 --seed 3");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const Table table = read_table(out);
  ASSERT_EQ(table.rows.size(), images);
  std::map<std::string, std::string> fold_of_patient;
  std::map<std::string, std::size_t> per_fold;
  for (std::size_t row = 0; row < table.rows.size(); ++row) {
    const std::string& fold = table.at(row, "fold");
    ++per_fold[fold];
    auto [place, inserted] = fold_of_patient.try_emplace(table.at(row, "patient"), fold);
    EXPECT_EQ(place->second, fold) << "patient " << table.at(row, "patient") << " is in two folds";
    for (int f = 1; f <= 4; ++f)
      EXPECT_EQ(table.at(row, "split_fold" + std::to_string(f)),
                fold == std::to_string(f) ? "valid" : "train");
    EXPECT_TRUE(table.at(row, "study").starts_with("MURA-v1.1/")) << table.at(row, "study");
  }
  EXPECT_EQ(fold_of_patient.size(), 60u);
  EXPECT_EQ(per_fold.size(), 4u);
  for (const auto& [fold, count] : per_fold) EXPECT_GT(count, 0u) << "fold " << fold;
}

TEST(ReadersCli, FilterErrorPointsAtTheKeyInThePipelineFile) {
  TempFolder scratch;
  const auto pipeline = scratch.path() / "bad-filter.toml";
  // pipeline_with puts the [reader] table's first key on line 7; the filter is its third key.
  std::ofstream(pipeline) << pipeline_with(
      "stage = \"csv\"\nfile = \"" + (fracatlas / "labels.csv").string() +
      "\"\nfilter = \"split = 'train'\"\nlabel_column = \"fractured\"\n");
  const auto lines = read_text(pipeline);
  ASSERT_NE(lines.find("\n\n[reader]\nstage"), std::string::npos);
  const auto run =
      radpipe_run("split " + pipeline.string() + " --out " + (scratch.path() / "x.csv").string());
  EXPECT_EQ(run.exit_code, 3) << run.err;
  // Line 9, column 10: where the value of `filter = ` starts.
  EXPECT_NE(run.err.find(pipeline.string() + ":9:10:"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("key filter: at character 7 of 'split = 'train''"), std::string::npos) << run.err;
  EXPECT_FALSE(fs::exists(scratch.path() / "x.csv"));
}

TEST(ReadersCli, BrokenImagesAreSkippedAndCountedOrStopTheRun) {
  TempFolder scratch;
  const auto study = scratch.path() / "study";
  fs::create_directories(study);
  fs::copy_file(source_dir / "samples" / "fracatlas" / "images" / "IMG0000015.jpg", study / "good.jpg");
  const std::string jpeg = read_text(study / "good.jpg");
  scratch.write("study/cut.jpg", jpeg.substr(0, jpeg.size() / 2));
  scratch.write("study/empty.png", "");
  scratch.write("study/text.png", "not pixels");
  fs::create_symlink(study / "deleted.png", study / "dangling.png");
  ASSERT_EQ(::mkfifo((study / "fifo.png").c_str(), 0600), 0);

  const auto pipeline = scratch.path() / "study.toml";
  std::ofstream(pipeline) << pipeline_with("stage = \"study_folder\"\nfolder = \"" + study.string() + "\"\n");
  auto run = radpipe_run("predict " + pipeline.string() + " --out " + (scratch.path() / "out").string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto summary = nlohmann::json::parse(read_text(scratch.path() / "out" / "run.json"));
  EXPECT_EQ(summary["images"], 1);
  EXPECT_EQ(summary["studies"], 1); // one verdict for the folder
  std::set<std::string> skipped;
  for (const auto& skip : summary["skipped"])
    skipped.insert(fs::path(skip["path"].get<std::string>()).filename().string());
  EXPECT_EQ(skipped, (std::set<std::string>{"cut.jpg", "dangling.png", "empty.png", "fifo.png", "text.png"}));
  for (const auto& name : skipped)
    EXPECT_NE(run.err.find(name), std::string::npos) << "the skip of " << name << " is logged";

  std::ofstream(pipeline) << pipeline_with("stage = \"study_folder\"\nfolder = \"" + study.string() + "\"\n",
                                           "on_error = \"fail\"\n");
  run = radpipe_run("predict " + pipeline.string() + " --out " + (scratch.path() / "strict").string());
  EXPECT_EQ(run.exit_code, 1) << run.err;
  EXPECT_NE(run.err.find("cut.jpg"), std::string::npos) << run.err; // the first broken file in path order
  // The run stopped: its record says so (docs/batch.md), whatever it had committed before.
  EXPECT_EQ(nlohmann::json::parse(read_text(scratch.path() / "strict" / "run.json"))["status"], "failed");
}

} // namespace

// The MURA recipes in pipelines/mura/ name a MURA-v1.1 folder that only users have: pointed at a
// generated tree, each must pass `radpipe check` as shipped.
TEST(ReadersCli, TheShippedMuraRecipesCheckAgainstAMuraTree) {
  TempFolder scratch;
  const auto root = scratch.path() / "MURA-v1.1";
  radpipe::testing::write_mura_tree(root, radpipe::testing::generated_mura_studies(6, 4));
  for (const std::string name : {"densenet169.toml", "per-part.toml"}) {
    std::string text = read_text(fs::path(RADPIPE_SOURCE_DIR) / "pipelines" / "mura" / name);
    ASSERT_FALSE(text.empty()) << name;
    text = std::regex_replace(text, std::regex(R"(root = "[^"]*")"), "root = \"" + root.string() + "\"");
    const auto pipeline = scratch.path() / name;
    std::ofstream(pipeline) << text;
    auto run = radpipe_run("check " + pipeline.string());
    EXPECT_EQ(run.exit_code, 0) << name << "\n" << run.err;
  }
}
