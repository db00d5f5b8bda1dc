// The real radpipe binary against what a hospital archive and a careless command line hand it:
// outputs it cannot write, pipeline paths that are not files, statistics that divide by zero,
// labels a binary task cannot have, images that lie about their size, folders it cannot list, and
// kills between the renames that commit a run's outputs. Each is refused before any work, or
// counted and reported; docs/reliability.md lists them all.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <radpipe/testing.hpp>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using radpipe::testing::read_text;
using radpipe::testing::TempFolder;

namespace {

const fs::path source_dir = RADPIPE_SOURCE_DIR;
const std::string demo = (source_dir / "pipelines" / "demo.toml").string();

radpipe::testing::CommandResult radpipe_run(const std::string& arguments, const std::string& prefix = "") {
  return radpipe::testing::run_command(prefix + " " + std::string(RADPIPE_EXECUTABLE) + " " + arguments);
}

// The demo pipeline with its reader and its normalize step replaced: the bundled model, CPU.
std::string pipeline_with(const std::string& reader, const std::string& normalize = "preset = \"imagenet\"") {
  return "[pipeline]\nname = \"hostile\"\nbatch_size = 4\n[reader]\n" + reader +
         "\n[[preprocess]]\nstage = \"grayscale\"\n[[preprocess]]\nstage = \"resize\"\nsize = [128, 128]\nmode = \"pad\"\n"
         "[[preprocess]]\nstage = \"normalize\"\n" +
         normalize + "\n[model]\nstage = \"cnn\"\nblocks = 5\nwidth = 16\ninput_channels = 1\nweights = \"" +
         (source_dir / "samples" / "models" / "fracatlas-cnn5.pt").string() +
         "\"\ndevice = \"cpu\"\n[aggregate]\nstage = \"mean\"\n[train]\nepochs = 1\nlimit = 4\n";
}

std::string samples_reader(const fs::path& labels) {
  return "stage = \"csv\"\nfile = \"" + labels.string() + "\"\nimage_root = \"" + (source_dir / "samples" / "fracatlas").string() +
         "\"\nlabel_column = \"fractured\"\nbody_part_column = \"body_part\"\n";
}

std::string encoded_png(int rows, int cols) {
  std::vector<unsigned char> bytes;
  cv::imencode(".png", cv::Mat(rows, cols, CV_8UC1, cv::Scalar(100)), bytes);
  return {bytes.begin(), bytes.end()};
}

// Runs radpipe as an unprivileged user when the test is root (root writes into any folder), so
// that a read-only folder is read-only to it.
std::string without_privileges() { return ::geteuid() == 0 ? "setpriv --reuid=65534 --regid=65534 --clear-groups" : ""; }

} // namespace

// A bad --out was once found only after every image had been scored. Every command that writes
// checks it first: an existing file, a read-only folder.
TEST(HostileInput, AnUnusableOutIsRefusedBeforeAnyWork) {
  TempFolder scratch;
  const fs::path file = scratch.write("taken", "a file, not a folder\n");
  const fs::path trainable = scratch.write("trainable.toml", pipeline_with(samples_reader(source_dir / "samples" / "fracatlas" / "labels.csv")));
  for (const std::string& command : {"predict " + demo + " --out ", "evaluate " + demo + " --out ", "explain " + demo + " --out ",
                                     "preview " + demo + " --out ", "train " + trainable.string() + " --out "}) {
    SCOPED_TRACE(command);
    const auto result = radpipe_run(command + file.string());
    EXPECT_EQ(result.exit_code, 2) << result.err;
    EXPECT_NE(result.err.find("is an existing file, not a folder"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("images"), std::string::npos) << "nothing was scored first: " << result.err;
  }
  const auto split = radpipe_run("split " + demo + " --out " + scratch.path().string());
  EXPECT_EQ(split.exit_code, 2) << split.err;
  EXPECT_NE(split.err.find("is a folder"), std::string::npos) << split.err;

  const fs::path locked = scratch.path() / "locked";
  fs::create_directories(locked);
  fs::permissions(scratch.path(), fs::perms::all);
  fs::permissions(locked, fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
  const auto read_only = radpipe_run("predict " + demo + " --out " + locked.string(), without_privileges());
  EXPECT_EQ(read_only.exit_code, 2) << read_only.err;
  EXPECT_NE(read_only.err.find("cannot write into --out"), std::string::npos) << read_only.err;
  EXPECT_NE(read_only.err.find("Permission denied"), std::string::npos) << read_only.err;
  EXPECT_FALSE(fs::exists(locked / "predictions.csv"));
}

// A FIFO given as the pipeline blocked forever; a folder was "missing table [pipeline]"; a file
// that is not TOML had its first line echoed into the error (it may hold patient data).
TEST(HostileInput, APipelinePathThatIsNotARegularTomlFileIsRefusedAtOnce) {
  TempFolder scratch;
  const fs::path fifo = scratch.path() / "pipeline.toml";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto from_fifo = radpipe_run("check " + fifo.string(), "timeout 60");
  EXPECT_EQ(from_fifo.exit_code, 1) << "124 would mean it blocked: " << from_fifo.err;
  EXPECT_NE(from_fifo.err.find("FIFO"), std::string::npos) << from_fifo.err;

  const auto from_folder = radpipe_run("check " + scratch.path().string());
  EXPECT_EQ(from_folder.exit_code, 1);
  EXPECT_NE(from_folder.err.find("is a folder"), std::string::npos) << from_folder.err;
  EXPECT_EQ(from_folder.err.find("missing table"), std::string::npos) << from_folder.err;

  const auto from_image = radpipe_run("check " + scratch.write("scan.png", encoded_png(8, 8)).string());
  EXPECT_EQ(from_image.exit_code, 1);
  EXPECT_NE(from_image.err.find("not a text file"), std::string::npos) << from_image.err;

  const std::string secret = "Doe^Jane,1957-03-02,MRN 4711";
  const auto from_csv = radpipe_run("check " + scratch.write("patients.csv", secret + "\nRoe^Richard,1960-01-01,MRN 4712\n").string());
  EXPECT_EQ(from_csv.exit_code, 1);
  EXPECT_NE(from_csv.err.find("patients.csv:1:"), std::string::npos) << "still says where: " << from_csv.err;
  for (const char* part : {"Doe", "Jane", "1957", "4711"})
    EXPECT_EQ(from_csv.err.find(part), std::string::npos) << "echoed '" << part << "': " << from_csv.err;
}

// std = 0 passed `check` and failed in predict; std = 1e-45 (denormal) turned every pixel into
// infinity. The schema refuses both, and NaN, at their line; a tiny but normal std is warned about.
TEST(HostileInput, CheckRefusesZeroDenormalAndNanStdAndWarnsAboutATinyOne) {
  TempFolder scratch;
  const std::string reader = samples_reader(source_dir / "samples" / "fracatlas" / "labels.csv");
  for (const std::string& std_value : std::vector<std::string>{"0.0", "1e-45", "nan"}) {
    SCOPED_TRACE(std_value);
    const std::string text = pipeline_with(reader, "preset = \"custom\"\nmean = [0.5]\nstd = [" + std_value + "]");
    const auto line = 1 + std::count(text.begin(), text.begin() + static_cast<long>(text.find("std = [")), '\n');
    const fs::path file = scratch.write("std.toml", text);
    const auto result = radpipe_run("check " + file.string());
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_NE(result.err.find("std.toml:" + std::to_string(line) + ":"), std::string::npos) << "at the std line: " << result.err;
    EXPECT_NE(result.err.find("key 'std'"), std::string::npos) << result.err;
  }
  const fs::path tiny = scratch.write("tiny.toml", pipeline_with(reader, "preset = \"custom\"\nmean = [0.5]\nstd = [1e-6]"));
  ASSERT_EQ(radpipe_run("check " + tiny.string()).exit_code, 0);
  const auto predicted = radpipe_run("predict " + tiny.string() + " --limit 2 --out " + (scratch.path() / "out").string());
  EXPECT_EQ(predicted.exit_code, 0) << predicted.err;
  EXPECT_NE(predicted.err.find("every probability will likely be 0 or 1"), std::string::npos) << predicted.err;
}

// A label of 2 in a binary task once counted as positive without a word.
TEST(HostileInput, ALabelOutsideZeroAndOneIsRefusedBeforeTrainingOrEvaluating) {
  TempFolder scratch;
  std::string labels = read_text(source_dir / "samples" / "fracatlas" / "labels.csv");
  const auto first_row = labels.find('\n') + 1;
  const auto second_row = labels.find('\n', first_row) + 1;
  // The first sample's row with its fractured column set to 2.
  std::string row = labels.substr(first_row, second_row - first_row);
  const std::string header = labels.substr(0, first_row);
  std::vector<std::string> columns;
  for (std::size_t start = 0, end; start < header.size(); start = end + 1) {
    end = header.find_first_of(",\n", start);
    columns.push_back(header.substr(start, end - start));
  }
  const auto fractured = static_cast<std::size_t>(std::find(columns.begin(), columns.end(), "fractured") - columns.begin());
  std::size_t field_start = 0;
  for (std::size_t i = 0; i < fractured; ++i) field_start = row.find(',', field_start) + 1;
  row.replace(field_start, row.find_first_of(",\n", field_start) - field_start, "2");
  labels.replace(first_row, second_row - first_row, row);
  const fs::path csv = scratch.write("labels.csv", labels);
  const fs::path pipeline = scratch.write("labels.toml", pipeline_with(samples_reader(csv)));
  for (const std::string& command : {"train " + pipeline.string() + " --out " + (scratch.path() / "train").string(),
                                    "evaluate " + pipeline.string() + " --split valid --out " + (scratch.path() / "eval").string()}) {
    SCOPED_TRACE(command);
    const auto result = radpipe_run(command);
    EXPECT_EQ(result.exit_code, 1) << result.err;
    EXPECT_NE(result.err.find("has label 2"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("img/s"), std::string::npos) << "refused before scoring: " << result.err;
  }
}

// image_files dropped dangling links, symbolic link loops and FIFOs without a word; a crafted PNG
// declaring 32000 x 32000 pixels was decoded (1.2 GB). Now each is a counted skip with its reason,
// or stops the run with on_error = "fail".
TEST(HostileInput, ImageFilesCountsEveryEntryItCannotReadAndRefusesGiantHeaders) {
  TempFolder scratch;
  const fs::path images = scratch.path() / "images";
  std::string giant = encoded_png(16, 16);
  giant.replace(16, 8, std::string("\x00\x00\x7D\x00\x00\x00\x7D\x00", 8));
  scratch.write("images/good.png", encoded_png(64, 64));
  scratch.write("images/giant.png", giant);
  fs::create_symlink(images / "deleted.png", images / "dangling.png");
  fs::create_symlink(images / "loop.png", images / "loop.png");
  ASSERT_EQ(::mkfifo((images / "fifo.png").c_str(), 0600), 0);
  const std::string reader = "stage = \"image_files\"\nroot = \"" + images.string() + "\"\n";

  const fs::path skipping = scratch.write("skip.toml", pipeline_with(reader));
  const auto skipped = radpipe_run("predict " + skipping.string() + " --out " + (scratch.path() / "out").string(), "timeout 120");
  ASSERT_EQ(skipped.exit_code, 0) << skipped.err;
  const auto run = nlohmann::json::parse(read_text(scratch.path() / "out" / "run.json"));
  EXPECT_EQ(run["images"], 1);
  std::map<std::string, std::string> reasons;
  for (const auto& skip : run["skipped"]) reasons[fs::path(skip["path"].get<std::string>()).filename().string()] = skip["reason"];
  ASSERT_EQ(reasons.size(), 4u) << run.dump(2);
  EXPECT_NE(reasons["giant.png"].find("declares 32000 x 32000"), std::string::npos) << reasons["giant.png"];
  EXPECT_NE(reasons["dangling.png"].find("no such file"), std::string::npos) << reasons["dangling.png"];
  EXPECT_NE(reasons["loop.png"].find("symbolic links"), std::string::npos) << reasons["loop.png"];
  EXPECT_NE(reasons["fifo.png"].find("not a regular file"), std::string::npos) << reasons["fifo.png"];

  std::string failing_pipeline = pipeline_with(reader);
  failing_pipeline.replace(failing_pipeline.find("batch_size"), 0, "on_error = \"fail\"\n");
  const fs::path failing = scratch.write("fail.toml", failing_pipeline);
  const auto failed = radpipe_run("predict " + failing.string() + " --out " + (scratch.path() / "fail").string(), "timeout 120");
  EXPECT_EQ(failed.exit_code, 1) << failed.err;
}

// run.json is the record of what is committed (docs/batch.md): wherever a kill lands, the
// predictions.csv beside it holds at least the bytes it names, and those hold exactly its images.
TEST(HostileInput, AKillWhileCommittingPredictionsNeverPairsNewFilesWithAnOldRecord) {
  TempFolder scratch;
  const fs::path out = scratch.path() / "out";
  ASSERT_EQ(radpipe_run("predict " + demo + " --limit 2 --device cpu --out " + out.string()).exit_code, 0);
  int killed = 0;
  for (int operation = 1; operation < 40; ++operation) {
    SCOPED_TRACE("killed at file operation " + std::to_string(operation));
    const int limit = 3 + operation % 2; // every run differs from the one before it
    const auto result = radpipe_run("predict " + demo + " --limit " + std::to_string(limit) + " --device cpu --out " + out.string(),
                                    "RADPIPE_TEST_KILL_AT_FILE_OP=" + std::to_string(operation));
    if (result.exit_code == 0) break;
    ++killed;
    if (fs::exists(out / "run.json")) {
      const auto record = nlohmann::json::parse(read_text(out / "run.json"));
      const std::string predictions = read_text(out / "predictions.csv");
      const auto committed = record["files"].value("predictions.csv", std::uint64_t{0});
      ASSERT_GE(predictions.size(), committed) << "run.json names bytes that are gone";
      const std::string vouched = predictions.substr(0, committed);
      EXPECT_TRUE(vouched.empty() || vouched.back() == '\n') << "a commit holds whole lines only";
      const auto rows = std::count(vouched.begin(), vouched.end(), '\n') - (vouched.empty() ? 0 : 1); // less the header
      EXPECT_EQ(record["images"].get<long>(), rows) << "run.json vouches only for the predictions beside it";
    }
    // The next run (not killed) commits a complete set again, and removes the temporaries the
    // killed one left.
    ASSERT_EQ(radpipe_run("predict " + demo + " --limit 2 --device cpu --out " + out.string()).exit_code, 0);
    for (const auto& entry : fs::directory_iterator(out))
      EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
  EXPECT_GE(killed, 3) << "the old record's removal, and each run.json commit's temporary and rename";
}
