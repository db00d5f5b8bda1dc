// The real radpipe binary on real files: the bundled samples, the shared FracAtlas data, and
// files the tests write.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

#include <algorithm>
#include <array>
#include <cmath>
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

// `environment`: arguments of env(1) in front of the program, e.g. "-u NAME NAME2=value".
CommandResult radpipe(const std::string& arguments, const std::string& environment = "") {
  TempFolder scratch;
  const fs::path err = scratch.path() / "stderr.txt";
  const std::string command =
      (environment.empty() ? "" : "env " + environment + " ") + std::string(RADPIPE_EXECUTABLE) + " " + arguments + " 2>" + err.string();
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
  EXPECT_TRUE(std::regex_search(run.out, std::regex(R"(^radpipe \d+\.\d+\.\d+\nSDK \d+\.\d+\.\d+, plugin ABI \d+\nbuild fingerprint compiler=)")))
      << run.out;
}

// libgomp prints the settings it read at start-up with OMP_DISPLAY_ENV: a passive wait policy
// shows as a spin count of 0, libgomp's own default as 300,000.
TEST(Cli, OpenMpThreadsSleepInsteadOfSpinningUnlessTheUserSaysOtherwise) {
  const std::string clean = "-u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_DISPLAY_ENV=verbose";
  for (const std::string command : {"predict", "evaluate", "explain"}) {
    CommandResult by_default = radpipe(command + " --help", clean);
    EXPECT_EQ(by_default.exit_code, 0) << command;
    EXPECT_NE(by_default.err.find("GOMP_SPINCOUNT = '0'"), std::string::npos) << command << ": " << by_default.err;
    EXPECT_NE(by_default.out.find("Usage: radpipe " + command), std::string::npos)
        << "the re-executed program keeps its arguments: " << by_default.out;
  }

  for (const std::string command : {"--version", "train --help", "cv --help"}) {
    CommandResult spinning = radpipe(command, clean);
    EXPECT_NE(spinning.err.find("GOMP_SPINCOUNT = '300000'"), std::string::npos) << command << " keeps libgomp's default: " << spinning.err;
  }

  CommandResult active = radpipe("predict --help", clean + " OMP_WAIT_POLICY=active");
  EXPECT_NE(active.err.find("OMP_WAIT_POLICY = 'ACTIVE'"), std::string::npos) << active.err;
  EXPECT_EQ(active.err.find("GOMP_SPINCOUNT = '0'"), std::string::npos) << active.err;

  CommandResult spin_count = radpipe("predict --help", clean + " GOMP_SPINCOUNT=1234");
  EXPECT_NE(spin_count.err.find("GOMP_SPINCOUNT = '1234'"), std::string::npos) << spin_count.err;
}

TEST(Cli, BadCommandLinesExitWithTwo) {
  EXPECT_EQ(radpipe("").exit_code, 2);
  EXPECT_EQ(radpipe("frobnicate").exit_code, 2);
  EXPECT_EQ(radpipe("predict").exit_code, 2); // missing pipeline and --out
}

TEST(Cli, EveryCommandHasHelp) {
  for (const std::string command : {"plugins", "inspect", "check", "predict", "train", "explain", "preview", "split", "show"}) {
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
  EXPECT_TRUE(std::regex_search(run.out, std::regex(R"(ABI version mismatch: plugin has ABI 999 \(SDK [0-9.]+\), host has ABI \d+)"))) << run.out;
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

// The default fast path (decode hints: grey at half scale; the model's inference form: BatchNorm
// folded, channels-last) against the plain one (full decode, trainable form) on the demo: the
// issue allows a mean absolute difference of 0.005 in probability.
TEST(Cli, FastPathGivesTheDemoModelsProbabilitiesWithinHalfAPercent) {
  TempFolder scratch;
  std::string plain_text = read_text(demo);
  const std::string table = "[pipeline]\n";
  plain_text.replace(plain_text.find(table), table.size(), table + "decode_hints = false\noptimize = false\n");
  // The copy lives elsewhere: its relative paths become absolute.
  plain_text = std::regex_replace(plain_text, std::regex("\"\\.\\./samples/"), "\"" + (source_dir / "samples").string() + "/");
  const fs::path plain = scratch.path() / "plain.toml";
  { std::ofstream(plain) << plain_text; }
  CommandResult fast = radpipe("predict " + demo + " --out " + (scratch.path() / "fast").string());
  CommandResult slow = radpipe("predict " + plain.string() + " --out " + (scratch.path() / "plain").string());
  ASSERT_EQ(fast.exit_code, 0) << fast.err;
  ASSERT_EQ(slow.exit_code, 0) << slow.err;
  const auto fast_rows = read_csv_rows(scratch.path() / "fast" / "predictions.csv");
  const auto plain_rows = read_csv_rows(scratch.path() / "plain" / "predictions.csv");
  ASSERT_EQ(fast_rows.size(), 21u);
  ASSERT_EQ(plain_rows.size(), 21u);
  double total = 0;
  for (std::size_t i = 1; i < fast_rows.size(); ++i) {
    ASSERT_EQ(fast_rows[i][0], plain_rows[i][0]);
    total += std::abs(std::stod(fast_rows[i][7]) - std::stod(plain_rows[i][7]));
  }
  const double mean = total / 20.0;
  std::cout << "demo: mean |probability difference|, fast path against plain: " << mean << "\n";
  EXPECT_LE(mean, 0.005);
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
  // Predict streams (issue 12): a failed run keeps the whole lines it committed and says so.
  auto failed = nlohmann::json::parse(read_text(folder.path() / "out2" / "run.json"));
  EXPECT_EQ(failed["status"], "failed");
  const std::string partial = read_text(folder.path() / "out2" / "predictions.csv");
  ASSERT_FALSE(partial.empty());
  EXPECT_EQ(partial.back(), '\n') << "whole lines only";
}

TEST(Cli, ExplainWritesAHeatmapPerImageAndAnIndex) {
  TempFolder out;
  CommandResult run = radpipe("explain " + demo + " --limit 4 --out " + out.path().string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  auto rows = read_csv_rows(out.path() / "explanations.csv");
  ASSERT_EQ(rows.size(), 5u) << "header and one row per explained image";
  EXPECT_EQ(rows[0], (std::vector<std::string>{"id", "path", "body_part", "chain", "probability", "label", "heatmap", "peak_x", "peak_y",
                                                "original_heatmap", "original_width", "original_height", "original_peak_x",
                                                "original_peak_y"}));
  const std::string index = read_text(out.path() / "index.html");
  int peaks_on_the_radiograph = 0;
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
    // The heatmap over the radiograph at its own size: the peak is where the demo's letterboxing
    // resize to 128x128 sends it back, within two input pixels.
    const cv::Mat radiograph = cv::imread(rows[i][1], cv::IMREAD_UNCHANGED);
    const cv::Mat original = cv::imread((out.path() / rows[i][9]).string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(original.empty()) << rows[i][9];
    EXPECT_EQ(original.size(), radiograph.size());
    EXPECT_EQ(std::stoi(rows[i][10]), radiograph.cols);
    EXPECT_EQ(std::stoi(rows[i][11]), radiograph.rows);
    EXPECT_NE(index.find("href=\"" + rows[i][9] + "\""), std::string::npos);
    const double scale = std::min(128.0 / radiograph.cols, 128.0 / radiograph.rows);
    const double content_width = std::lround(radiograph.cols * scale), content_height = std::lround(radiograph.rows * scale);
    const double left = std::floor((128 - content_width) / 2), top = std::floor((128 - content_height) / 2);
    const double sx = content_width / radiograph.cols, sy = content_height / radiograph.rows;
    const double expected_x = (std::stod(rows[i][7]) * 128 - left) / sx - 0.5, expected_y = (std::stod(rows[i][8]) * 128 - top) / sy - 0.5;
    // A peak in the letterbox's padding lies off the radiograph: the map there has no place on it.
    if (expected_x < 0 || expected_y < 0 || expected_x > radiograph.cols - 1 || expected_y > radiograph.rows - 1) continue;
    ++peaks_on_the_radiograph;
    EXPECT_NEAR(std::stod(rows[i][12]), expected_x, 2 / sx) << rows[i][0];
    EXPECT_NEAR(std::stod(rows[i][13]), expected_y, 2 / sy) << rows[i][0];
  }
  EXPECT_GT(peaks_on_the_radiograph, 0) << "the mapping was checked at least once";
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

TEST(Cli, PreviewWritesOneLabelledSheetPerStepOfTheDemo) {
  TempFolder out;
  CommandResult run = radpipe("preview " + demo + " --n 16 --out " + out.path().string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const std::string index = read_text(out.path() / "index.html");
  // The demo's chain: grayscale, resize, normalize; the input sheet comes first.
  for (const std::string file : {"00-input.png", "01-grayscale.png", "02-resize.png", "03-normalize.png"}) {
    const cv::Mat sheet = cv::imread((out.path() / file).string(), cv::IMREAD_UNCHANGED);
    ASSERT_FALSE(sheet.empty()) << file << " is missing or not a PNG";
    // 16 images in a 4x4 grid of 256-pixel cells: width 8 + 4 * (256 + 8) = 1064; height: a
    // 48-pixel header, then 4 rows of image, 34-pixel caption and 8-pixel margin: 48 + 4 * 298 = 1240.
    EXPECT_EQ(sheet.size(), cv::Size(1064, 1240)) << file;
    EXPECT_NE(index.find("src=\"" + file + "\""), std::string::npos) << file << " not in index.html";
  }
  EXPECT_NE(index.find("2/3 resize [transforms plugin, deterministic]"), std::string::npos) << index;
  EXPECT_NE(index.find("mode=&quot;pad&quot;"), std::string::npos) << "the step's parameters label its sheet";
  EXPECT_FALSE(fs::exists(out.path() / "04-normalize.png"));
}

// A pipeline over the bundled samples whose last step is the given random stage.
fs::path write_random_pipeline(const fs::path& folder, int seed, const std::string& random_stage) {
  const fs::path file = folder / ("random-" + std::to_string(seed) + ".toml");
  std::ofstream(file) << "[pipeline]\nname = \"random\"\nseed = " << seed << "\n[reader]\nstage = \"csv\"\nfile = \""
                      << (source_dir / "samples" / "fracatlas" / "labels.csv").string()
                      << "\"\nlabel_column = \"fractured\"\n[[preprocess]]\nstage = \"grayscale\"\n[[preprocess]]\nstage = \"resize\"\nsize = [128, 128]\n"
                      << "mode = \"stretch\"\n[[preprocess]]\n" << random_stage << "\n[model]\nstage = \"cnn\"\n"
                      << "[aggregate]\nstage = \"mean\"\n";
  return file;
}

TEST(Cli, PreviewRunsRandomStagesAsInTraining) {
  TempFolder folder;
  // Flipping with probability 1 must mirror every image. With --tile 128 the 128x128 images are
  // copied into their cells unscaled, so each cell of the flip sheet is the mirror of the same
  // cell of the resize sheet. 4 images make 2 columns: cell c starts at x = 8 + (c % 2) * 136,
  // y = 48 + (c / 2) * (128 + 34 + 8).
  const fs::path flip = write_random_pipeline(folder.path(), 1, "stage = \"random_flip\"\nhorizontal = 1.0");
  ASSERT_EQ(radpipe("preview " + flip.string() + " --n 4 --tile 128 --out " + (folder.path() / "flip").string()).exit_code, 0);
  const cv::Mat resized = cv::imread((folder.path() / "flip" / "02-resize.png").string());
  const cv::Mat flipped = cv::imread((folder.path() / "flip" / "03-random_flip.png").string());
  ASSERT_FALSE(resized.empty());
  ASSERT_EQ(flipped.size(), resized.size());
  for (int cell = 0; cell < 4; ++cell) {
    const cv::Rect area(8 + (cell % 2) * 136, 48 + (cell / 2) * 170, 128, 128);
    cv::Mat mirrored;
    cv::flip(resized(area), mirrored, 1);
    EXPECT_EQ(cv::norm(flipped(area), mirrored, cv::NORM_INF), 0.0) << "cell " << cell;
    EXPECT_GT(cv::norm(flipped(area), resized(area), cv::NORM_INF), 0.0) << "radiographs are not symmetric";
  }

  // A random warp is reproducible for one seed and changes with another.
  const std::string warp = "stage = \"random_affine\"\nrotation = 30.0";
  const auto sheet = [&](int seed, const std::string& name) {
    const fs::path out = folder.path() / name;
    EXPECT_EQ(radpipe("preview " + write_random_pipeline(folder.path(), seed, warp).string() + " --n 4 --out " + out.string()).exit_code, 0);
    return read_text(out / "03-random_affine.png");
  };
  const std::string first = sheet(5, "a"), again = sheet(5, "b"), other = sheet(6, "c");
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first, again) << "the same seed must give the same sheet, byte for byte";
  EXPECT_NE(first, other);
}

TEST(Cli, PreviewFitsAFittedStageOnTheShownImages) {
  TempFolder folder;
  const fs::path pipeline = write_random_pipeline(folder.path(), 1, "stage = \"standardize\"\nmode = \"per_pixel\"");
  CommandResult run = radpipe("preview " + pipeline.string() + " --n 3 --out " + folder.path().string() + "/out");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(read_text(folder.path() / "out" / "index.html").find("fitted on these 3 images"), std::string::npos);
  EXPECT_EQ(radpipe("preview " + pipeline.string() + " --n 0 --out " + folder.path().string() + "/zero").exit_code, 2);
}

// A model factory's error about one key points at the line where the pipeline sets that key,
// as the readers' and transforms' errors do.
TEST(Cli, AModelErrorAboutAKeyPointsAtItsLine) {
  TempFolder folder;
  std::string text = read_text(demo);
  text = std::regex_replace(text, std::regex(R"(\.\./samples)"), (source_dir / "samples").string());
  text = std::regex_replace(text, std::regex("dropout = 0.3\n"), "dropout = 0.3\nfreeze = [\"nope\"]\n");
  const fs::path pipeline = folder.path() / "p.toml";
  std::ofstream(pipeline) << text;
  int line = 0;
  {
    std::istringstream lines(text);
    std::string each;
    for (int number = 1; std::getline(lines, each); ++number)
      if (each.rfind("freeze = ", 0) == 0) line = number;
  }
  ASSERT_GT(line, 0);
  CommandResult run = radpipe("predict " + pipeline.string() + " --out " + (folder.path() / "out").string());
  EXPECT_EQ(run.exit_code, 3) << run.err;
  EXPECT_NE(run.err.find(pipeline.string() + ":" + std::to_string(line) + ":10: error: plugin torch_models, stage model cnn, key freeze"),
            std::string::npos)
      << run.err;
}
