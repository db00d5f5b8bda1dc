// The real radpipe binary on real files: the bundled samples, the shared FracAtlas data, and
// files the tests write.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <sys/wait.h>

namespace fs = std::filesystem;

namespace {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

std::string read_text(const fs::path& file) {
  std::ifstream stream(file);
  std::ostringstream text;
  text << stream.rdbuf();
  return text.str();
}

class TempFolder {
public:
  TempFolder() {
    path_ = fs::temp_directory_path() / ("radpipe-cli-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempFolder() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

private:
  static inline int counter_ = 0;
  fs::path path_;
};

CommandResult radpipe(const std::string& arguments) {
  TempFolder scratch;
  const fs::path err = scratch.path() / "stderr.txt";
  const std::string command = std::string(RADPIPE_EXECUTABLE) + " " + arguments + " 2>" + err.string();
  CommandResult run;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::array<char, 4096> buffer{};
  std::size_t count;
  while ((count = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0) run.out.append(buffer.data(), count);
  const int status = ::pclose(pipe);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  run.err = read_text(err);
  return run;
}

const fs::path source_dir = RADPIPE_SOURCE_DIR;
const std::string demo = (source_dir / "pipelines" / "demo.toml").string();

std::vector<std::vector<std::string>> read_csv_rows(const fs::path& file) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream stream(file);
  std::string line;
  while (std::getline(stream, line)) {
    std::vector<std::string> fields;
    std::stringstream fields_stream(line);
    std::string field;
    while (std::getline(fields_stream, field, ',')) fields.push_back(field);
    if (!line.empty() && line.back() == ',') fields.emplace_back();
    rows.push_back(fields);
  }
  return rows;
}

} // namespace

TEST(Cli, PrintsItsVersionAndAbi) {
  CommandResult run = radpipe("--version");
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.out.find("radpipe 0.1.0 (ABI 1, compiler="), std::string::npos) << run.out;
}

TEST(Cli, BadCommandLinesExitWithTwo) {
  EXPECT_EQ(radpipe("").exit_code, 2);
  EXPECT_EQ(radpipe("frobnicate").exit_code, 2);
  EXPECT_EQ(radpipe("predict").exit_code, 2); // missing pipeline and --out
}

TEST(Cli, EveryCommandHasHelp) {
  for (const std::string command : {"plugins", "inspect", "check", "predict", "train", "explain"}) {
    CommandResult run = radpipe(command + " --help");
    EXPECT_EQ(run.exit_code, 0) << command;
    EXPECT_NE(run.out.find("Usage"), std::string::npos) << command;
  }
}

TEST(Cli, PluginsListsEveryStage) {
  CommandResult run = radpipe("plugins --json");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto listing = nlohmann::json::parse(run.out);
  std::set<std::string> stages;
  for (const auto& plugin : listing["plugins"])
    for (const auto& stage : plugin["stages"]) stages.insert(stage["kind"].get<std::string>() + "/" + stage["name"].get<std::string>());
  for (const std::string expected : {"reader/image_files", "reader/csv", "transform/grayscale", "transform/rgb", "transform/resize",
                                     "transform/normalize", "model/cnn", "model/resnet", "model/densenet", "model/torchscript",
                                     "aggregator/mean", "aggregator/max"})
    EXPECT_TRUE(stages.count(expected)) << expected << " missing from `radpipe plugins`";
  EXPECT_TRUE(listing["broken"].empty()) << listing["broken"].dump();

  CommandResult text = radpipe("plugins");
  EXPECT_NE(text.out.find("transform   resize"), std::string::npos) << text.out;
}

TEST(Cli, BrokenPluginsAreReportedWithTheirReasonAndSkipped) {
  CommandResult run = radpipe("--plugin-path " RADPIPE_BINARY_DIR "/tests/abi plugins");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.out.find("BROKEN " RADPIPE_BINARY_DIR "/tests/abi/libwrong_abi.so"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("ABI version mismatch: plugin has ABI 999, host has ABI 1"), std::string::npos);
  EXPECT_NE(run.out.find("transform   add_offset"), std::string::npos) << "the good test plugin loads beside the broken ones";
  EXPECT_NE(run.out.find("reader      csv"), std::string::npos) << "the installation's plugins still load";
}

TEST(Cli, InspectPrintsASchemaAsTableAndJson) {
  CommandResult table = radpipe("inspect resize");
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_NE(table.out.find("transform resize"), std::string::npos);
  EXPECT_TRUE(std::regex_search(table.out, std::regex(R"(size\s+int\[\]\s+\(required\))"))) << table.out;

  CommandResult json = radpipe("inspect resize --json");
  ASSERT_EQ(json.exit_code, 0);
  auto schema = nlohmann::json::parse(json.out);
  EXPECT_EQ(schema["kind"], "transform");
  bool found = false;
  for (const auto& param : schema["parameters"])
    if (param["name"] == "size") found = param["type"] == "int[]" && param["required"] == true;
  EXPECT_TRUE(found) << json.out;

  CommandResult unknown = radpipe("inspect resise");
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("did you mean 'resize'?"), std::string::npos) << unknown.err;
}

TEST(Cli, CheckReportsThreeMistakesEachWithLineAndColumn) {
  TempFolder folder;
  const fs::path pipeline = folder.path() / "three-mistakes.toml";
  std::ofstream(pipeline) << "[pipeline]\n"
                             "name = \"three mistakes\"\n"
                             "batch_size = 0\n"                     // 3:14 out of range
                             "[reader]\n"
                             "stage = \"image_files\"\n"
                             "root = \"" << (source_dir / "samples").string() << "\"\n"
                             "recursiv = true\n"                    // 7:1 unknown key
                             "[model]\n"
                             "stage = \"cnn\"\n"
                             "[aggregate]\n"
                             "stage = \"average\"\n";               // 11:9 unknown stage
  CommandResult run = radpipe("check " + pipeline.string());
  EXPECT_EQ(run.exit_code, 1);
  const std::string prefix = pipeline.string();
  EXPECT_NE(run.err.find(prefix + ":3:14: error: key 'batch_size' in [pipeline]: value 0 is out of range"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find(prefix + ":7:1: error: unknown key 'recursiv' in [reader] (reader 'image_files'); did you mean 'recursive'?"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find(prefix + ":11:9: error: unknown aggregator stage 'average'"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("3 problems found"), std::string::npos) << run.err;
}

TEST(Cli, CheckAcceptsTheShippedPipelines) {
  for (const auto& entry : fs::directory_iterator(source_dir / "pipelines")) {
    if (entry.path().extension() != ".toml") continue;
    CommandResult run = radpipe("check " + entry.path().string());
    EXPECT_EQ(run.exit_code, 0) << entry.path() << "\n" << run.err;
  }
}

TEST(Cli, PredictsTheDemoOnTheBundledSamples) {
  TempFolder out;
  CommandResult run = radpipe("predict " + demo + " --out " + out.path().string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto rows = read_csv_rows(out.path() / "predictions.csv");
  ASSERT_EQ(rows.size(), 21u) << "header and one row per sample image";
  EXPECT_EQ(rows[0], (std::vector<std::string>{"id", "path", "study_id", "patient_id", "body_part", "view", "chain", "probability",
                                               "predicted", "label"}));
  auto labels = read_csv_rows(source_dir / "samples" / "fracatlas" / "labels.csv");
  std::set<double> distinct;
  for (std::size_t i = 1; i < rows.size(); ++i) {
    ASSERT_EQ(rows[i].size(), 10u);
    EXPECT_EQ(rows[i][0], "images/" + fs::path(labels[i][0]).stem().string());
    EXPECT_EQ(rows[i][4], labels[i][1]) << "body part from labels.csv";
    EXPECT_EQ(rows[i][9], labels[i][2]) << "label from labels.csv";
    const double probability = std::stod(rows[i][7]);
    EXPECT_GE(probability, 0.0);
    EXPECT_LE(probability, 1.0);
    EXPECT_EQ(rows[i][8], probability >= 0.5 ? "1" : "0");
    distinct.insert(probability);
  }
  EXPECT_GT(distinct.size(), 10u) << "a trained model gives images different probabilities";
  EXPECT_EQ(read_csv_rows(out.path() / "studies.csv").size(), 21u) << "FracAtlas images are their own studies";
  auto summary = nlohmann::json::parse(read_text(out.path() / "run.json"));
  EXPECT_EQ(summary["images"], 20);
  EXPECT_TRUE(summary["skipped"].empty());
}

TEST(Cli, PredictSkipsUnreadableImagesAndCountsThem) {
  TempFolder folder;
  fs::create_directories(folder.path() / "images");
  const fs::path samples = source_dir / "samples" / "fracatlas" / "images";
  fs::copy_file(samples / "IMG0000015.jpg", folder.path() / "images" / "good1.jpg");
  fs::copy_file(samples / "IMG0000188.jpg", folder.path() / "images" / "good2.jpg");
  std::ofstream(folder.path() / "images" / "broken.jpg") << "not a jpeg at all";
  std::ofstream(folder.path() / "labels.csv") << "image,fractured\nimages/good1.jpg,0\nimages/broken.jpg,1\nimages/good2.jpg,1\n";
  std::string text = read_text(demo);
  text = std::regex_replace(text, std::regex(R"(file = "[^"]*")"), "file = \"" + (folder.path() / "labels.csv").string() + "\"");
  text = std::regex_replace(text, std::regex(R"(weights = ")"), "weights = \"" + (source_dir / "pipelines").string() + "/");
  text = std::regex_replace(text, std::regex(R"(body_part_column = "body_part"\n)"), "");
  std::ofstream(folder.path() / "p.toml") << text;

  CommandResult run = radpipe("predict " + (folder.path() / "p.toml").string() + " --out " + (folder.path() / "out").string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("broken.jpg"), std::string::npos) << "the skip is logged with its path";
  EXPECT_EQ(read_csv_rows(folder.path() / "out" / "predictions.csv").size(), 3u);
  auto summary = nlohmann::json::parse(read_text(folder.path() / "out" / "run.json"));
  ASSERT_EQ(summary["skipped"].size(), 1u);
  EXPECT_NE(summary["skipped"][0]["path"].get<std::string>().find("broken.jpg"), std::string::npos);

  text = std::regex_replace(text, std::regex(R"(\[pipeline\]\n)"), "[pipeline]\non_error = \"fail\"\n");
  std::ofstream(folder.path() / "p.toml") << text;
  CommandResult strict = radpipe("predict " + (folder.path() / "p.toml").string() + " --out " + (folder.path() / "out2").string());
  EXPECT_EQ(strict.exit_code, 1) << strict.err;
  EXPECT_NE(strict.err.find("broken.jpg"), std::string::npos) << strict.err;
  EXPECT_FALSE(fs::exists(folder.path() / "out2" / "predictions.csv")) << "a failed run leaves no partial results";
}

TEST(Cli, ExplainWritesAHeatmapPerImageAndAnIndex) {
  TempFolder out;
  CommandResult run = radpipe("explain " + demo + " --limit 4 --out " + out.path().string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto rows = read_csv_rows(out.path() / "explanations.csv");
  ASSERT_EQ(rows.size(), 5u) << "header and one row per explained image";
  EXPECT_EQ(rows[0], (std::vector<std::string>{"id", "path", "body_part", "chain", "probability", "label", "heatmap", "peak_x", "peak_y"}));
  const std::string index = read_text(out.path() / "index.html");
  for (std::size_t i = 1; i < rows.size(); ++i) {
    const fs::path heatmap = out.path() / rows[i][6];
    ASSERT_TRUE(fs::exists(heatmap)) << heatmap;
    EXPECT_EQ(read_text(heatmap).substr(1, 3), "PNG") << heatmap << " is a PNG file";
    EXPECT_NE(index.find("src=\"" + rows[i][6] + "\""), std::string::npos) << "index.html shows " << rows[i][6];
    for (const int column : {7, 8}) {
      const double peak = std::stod(rows[i][column]);
      EXPECT_GT(peak, 0.0);
      EXPECT_LT(peak, 1.0);
    }
  }
}

TEST(Cli, ExplainWithoutAnExplainTableSaysHowToAddOne) {
  TempFolder folder;
  std::string text = read_text(demo);
  text = text.substr(0, text.find("[explain]"));
  text = std::regex_replace(text, std::regex(R"(\.\./samples)"), (source_dir / "samples").string());
  std::ofstream(folder.path() / "p.toml") << text;
  CommandResult run = radpipe("explain " + (folder.path() / "p.toml").string() + " --out " + (folder.path() / "out").string());
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("no [explain] table"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("stage = \"gradcam\""), std::string::npos) << run.err;
}
