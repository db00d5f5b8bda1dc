// Batch runs through the real binary (issue 12): predict streaming through writer plugins, a run
// killed with SIGKILL and resumed, SIGTERM ending a run cleanly, three shards merged, the Slurm
// sample script under SLURM_ARRAY_* variables, and output names that would leave --out.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <radpipe/testing.hpp>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using radpipe::testing::read_text;
using radpipe::testing::run_command;

namespace {

const fs::path source_dir = RADPIPE_SOURCE_DIR;
const std::size_t study_size = 11; // with batch_size 10, most commits cut a study in two

// id -> the line's cells, of a CSV whose cells hold no commas.
std::map<std::string, std::vector<std::string>> rows_by_first_cell(const fs::path& file,
                                                                   std::size_t* duplicates = nullptr) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line); // header
  std::map<std::string, std::vector<std::string>> rows;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream stream(line);
    std::string cell;
    while (std::getline(stream, cell, ',')) cells.push_back(cell);
    if (!rows.emplace(cells.at(0), cells).second && duplicates) ++*duplicates;
  }
  return rows;
}

nlohmann::json read_json(const fs::path& file) {
  std::ifstream in(file);
  return in ? nlohmann::json::parse(in, nullptr, false) : nlohmann::json();
}

class BatchTest : public testing::Test {
 protected:
  // `rows` images of three tiny PNGs, in studies of `study_size` listed together.
  fs::path make_pipeline(std::size_t rows, const std::string& extra = {}) {
    for (int i = 0; i < 3; ++i) {
      cv::Mat noise(24, 24, CV_8UC1);
      cv::randu(noise, 0, 256);
      cv::imwrite((folder_.path() / ("image" + std::to_string(i) + ".png")).string(), noise);
    }
    std::ostringstream csv;
    csv << "id,image,study,label,body_part\n";
    for (std::size_t row = 0; row < rows; ++row)
      csv << "img" << row << ",image" << row % 3 << ".png,study" << row / study_size << ',' << row % 2
          << ",hand\n";
    folder_.write("listing.csv", csv.str());
    return folder_.write(
        "batch.toml",
        "[pipeline]\nname = \"batch\"\nbatch_size = 10\nworkers = 1\n"
        "[reader]\nstage = \"csv\"\nfile = \"listing.csv\"\nid_column = \"id\"\nimage_column = \"image\"\n"
        "study_column = \"study\"\nlabel_column = \"label\"\nbody_part_column = \"body_part\"\n"
        "[[preprocess]]\nstage = \"grayscale\"\n"
        "[[preprocess]]\nstage = \"resize\"\nsize = [128, 128]\nmode = \"pad\"\n"
        "[[preprocess]]\nstage = \"normalize\"\npreset = \"imagenet\"\n"
        "[model]\nstage = \"cnn\"\nblocks = 5\nwidth = 16\ninput_channels = 1\ndropout = 0.3\nweights = \"" +
            (source_dir / "samples/models/fracatlas-cnn5.pt").string() +
            "\"\ndevice = \"cpu\"\n"
            "[aggregate]\nstage = \"mean\"\n" +
            extra);
  }

  std::string radpipe(const std::string& arguments) const {
    return std::string(RADPIPE_EXECUTABLE) + " --threads 1 " + arguments;
  }

  fs::path path(const std::string& name) const { return folder_.path() / name; }

  // `radpipe predict` as a child process, for tests that signal it midway.
  static pid_t start_predict(const fs::path& pipeline, const fs::path& out) {
    const pid_t child = fork();
    if (child == 0) {
      execl(RADPIPE_EXECUTABLE, RADPIPE_EXECUTABLE, "-q", "--threads", "1", "predict", pipeline.c_str(),
            "--out", out.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    return child;
  }

  // The ids, probabilities and studies of `run` equal those of `reference`, each id once.
  void expect_same_results(const fs::path& run, const fs::path& reference) {
    std::size_t duplicates = 0;
    const auto images = rows_by_first_cell(run / "predictions.csv", &duplicates);
    const auto expected = rows_by_first_cell(reference / "predictions.csv");
    EXPECT_EQ(duplicates, 0u);
    ASSERT_EQ(images.size(), expected.size());
    const std::size_t probability = 7; // id,path,study_id,patient_id,body_part,view,chain,probability
    for (const auto& [id, cells] : expected) {
      auto found = images.find(id);
      ASSERT_NE(found, images.end()) << id;
      EXPECT_NEAR(std::stod(found->second.at(probability)), std::stod(cells.at(probability)), 1e-6) << id;
    }
    const auto studies = rows_by_first_cell(run / "studies.csv", &duplicates);
    const auto expected_studies = rows_by_first_cell(reference / "studies.csv");
    EXPECT_EQ(duplicates, 0u);
    ASSERT_EQ(studies.size(), expected_studies.size());
    for (const auto& [study, cells] : expected_studies) {
      auto found = studies.find(study);
      ASSERT_NE(found, studies.end()) << study;
      EXPECT_EQ(found->second.at(4), cells.at(4)) << study; // images
      EXPECT_NEAR(std::stod(found->second.at(5)), std::stod(cells.at(5)), 1e-6) << study;
    }
  }

  radpipe::testing::TempFolder folder_;
};

TEST_F(BatchTest, ARunKilledMidwayAndResumedEqualsAnUninterruptedOne) {
  const fs::path pipeline = make_pipeline(2200);
  auto full = run_command(radpipe("predict " + pipeline.string() + " --out " + path("full").string()));
  ASSERT_EQ(full.exit_code, 0) << full.err;
  EXPECT_EQ(read_json(path("full/run.json"))["status"], "complete");

  // Killed when run.json has committed a count of images that cuts a study in two.
  const fs::path killed = path("killed");
  const pid_t child = start_predict(pipeline, killed);
  ASSERT_GT(child, 0);
  std::size_t committed = 0;
  for (int poll = 0; poll < 60000; ++poll) {
    const auto run = read_json(killed / "run.json");
    if (run.is_object() && run.value("images", 0u) >= 200 && run.value("images", 0u) % study_size != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ::kill(child, SIGKILL);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the run ended before it was killed: make it longer";
  const auto after_kill = read_json(killed / "run.json");
  committed = after_kill.value("images", 0u);
  EXPECT_EQ(after_kill["status"], "running");
  ASSERT_GT(committed, 0u);
  ASSERT_LT(committed, 2200u);
  EXPECT_NE(committed % study_size, 0u) << "the kill did not cut a study in two";
  // A kill mid-write leaves a partial line.
  { std::ofstream(killed / "predictions.csv", std::ios::app) << "img99999,image0.png,stud"; }

  auto resumed =
      run_command(radpipe("predict " + pipeline.string() + " --out " + killed.string() + " --resume"));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto run = read_json(killed / "run.json");
  EXPECT_EQ(run["status"], "complete");
  EXPECT_EQ(run["images"], 2200);
  EXPECT_EQ(run["studies"], (2200 + study_size - 1) / study_size);
  expect_same_results(killed, path("full"));
  EXPECT_EQ(read_text(killed / "predictions.csv").find("img99999"), std::string::npos);

  // Resuming a complete run scores nothing more.
  auto again =
      run_command(radpipe("predict " + pipeline.string() + " --out " + killed.string() + " --resume"));
  ASSERT_EQ(again.exit_code, 0) << again.err;
  expect_same_results(killed, path("full"));
}

TEST_F(BatchTest, SigtermEndsARunCleanlyWithItsCountsInRunJson) {
  const fs::path pipeline = make_pipeline(2200);
  const fs::path out = path("stopped");
  const pid_t child = start_predict(pipeline, out);
  ASSERT_GT(child, 0);
  // run.json appears at the first commit of the run; until then there is none to read.
  const auto committed_images = [&] {
    const auto record = read_json(out / "run.json");
    return record.is_object() ? record.value("images", 0u) : 0u;
  };
  for (int poll = 0; poll < 60000 && committed_images() < 100; ++poll)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ::kill(child, SIGTERM);
  int status = 0;
  ::waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 5); // stopped, resumable
  const auto run = read_json(out / "run.json");
  EXPECT_EQ(run["status"], "interrupted");
  // Closed cleanly: the files are exactly as long as run.json records, whole lines only.
  for (const auto& [name, bytes] : run["files"].items()) {
    EXPECT_EQ(fs::file_size(out / name), bytes.get<std::uint64_t>()) << name;
    EXPECT_EQ(read_text(out / name).back(), '\n') << name;
  }
  const auto images = rows_by_first_cell(out / "predictions.csv");
  EXPECT_EQ(images.size(), run["images"].get<std::size_t>());
}

TEST_F(BatchTest, ThreeShardsMergedEqualOneUnshardedRun) {
  const fs::path pipeline =
      make_pipeline(300, "[[output]]\nstage = \"csv\"\n[[output]]\nstage = \"jsonl\"\n");
  auto full = run_command(radpipe("predict " + pipeline.string() + " --out " + path("full").string()));
  ASSERT_EQ(full.exit_code, 0) << full.err;
  // Three processes at once, each its own shard.
  std::string shards;
  for (int shard = 0; shard < 3; ++shard)
    shards +=
        radpipe("-q predict " + pipeline.string() + " --out " +
                path("shard" + std::to_string(shard)).string() + " --shard " + std::to_string(shard) + "/3") +
        " & p" + std::to_string(shard) + "=$!; ";
  auto ran = run_command(shards + "wait $p0 && wait $p1 && wait $p2");
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  std::size_t sharded_images = 0;
  for (int shard = 0; shard < 3; ++shard) {
    const auto run = read_json(path("shard" + std::to_string(shard) + "/run.json"));
    EXPECT_EQ(run["shard"], std::to_string(shard) + "/3");
    EXPECT_GT(run["images"].get<std::size_t>(), 0u);
    sharded_images += run["images"].get<std::size_t>();
  }
  EXPECT_EQ(sharded_images, 300u);

  // A missing shard is refused.
  auto partial = run_command(radpipe("merge " + path("merged").string() + " " + path("shard0").string() +
                                     " " + path("shard2").string()));
  EXPECT_NE(partial.exit_code, 0);
  EXPECT_NE(partial.err.find("shards missing: 1/3"), std::string::npos) << partial.err;

  auto merged = run_command(radpipe("merge " + path("merged").string() + " " + path("shard0").string() + " " +
                                    path("shard1").string() + " " + path("shard2").string()));
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  expect_same_results(path("merged"), path("full"));
  std::ifstream jsonl(path("merged/predictions.jsonl"));
  std::size_t lines = 0;
  for (std::string line; std::getline(jsonl, line); ++lines)
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded());
  EXPECT_EQ(lines, 300u + (300 + study_size - 1) / study_size);
}

TEST_F(BatchTest, TheSlurmSampleTakesItsShardFromTheArrayVariables) {
  const fs::path pipeline = make_pipeline(60);
  auto ran = run_command("RADPIPE=" + std::string(RADPIPE_EXECUTABLE) + " PIPELINE=" + pipeline.string() +
                         " OUT=" + path("array").string() +
                         " SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=3 SLURM_CPUS_PER_TASK=1 bash " +
                         (source_dir / "samples/batch/radpipe-array.sbatch").string());
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  const auto run = read_json(path("array/shard-2/run.json"));
  EXPECT_EQ(run["shard"], "2/3");
  EXPECT_EQ(run["status"], "complete");
  // Run again (a requeued task): it resumes and scores nothing twice.
  auto requeued =
      run_command("RADPIPE=" + std::string(RADPIPE_EXECUTABLE) + " PIPELINE=" + pipeline.string() +
                  " OUT=" + path("array").string() + " SLURM_ARRAY_TASK_ID=2 SLURM_ARRAY_TASK_COUNT=3 bash " +
                  (source_dir / "samples/batch/radpipe-array.sbatch").string());
  ASSERT_EQ(requeued.exit_code, 0) << requeued.err;
  EXPECT_EQ(read_json(path("array/shard-2/run.json"))["images"], run["images"]);
  // The Kubernetes way: JOB_COMPLETION_INDEX with the count on the command line.
  auto indexed = run_command("JOB_COMPLETION_INDEX=1 " + radpipe("predict " + pipeline.string() + " --out " +
                                                                 path("k8s").string() + " --shard-count 3"));
  ASSERT_EQ(indexed.exit_code, 0) << indexed.err;
  EXPECT_EQ(read_json(path("k8s/run.json"))["shard"], "1/3");
}

TEST_F(BatchTest, InputFilesFoldersAndListsReplaceThePipelinesReader) {
  const fs::path pipeline = make_pipeline(3);
  fs::create_directories(path("scans/nested"));
  for (const std::string name : {"scans/one.png", "scans/nested/two.png", "listed.png", "direct.png"}) {
    cv::Mat noise(20, 20, CV_8UC1);
    cv::randu(noise, 0, 256);
    ASSERT_TRUE(cv::imwrite(path(name).string(), noise));
  }
  folder_.write("list.txt", "# tonight's extra images\nlisted.png\n\n");
  auto ran = run_command(radpipe("predict " + pipeline.string() + " --out " + path("out").string() +
                                 " --input " + path("scans").string() + " " + path("list.txt").string() +
                                 " " + path("direct.png").string()));
  ASSERT_EQ(ran.exit_code, 0) << ran.err;
  const auto images = rows_by_first_cell(path("out/predictions.csv"));
  ASSERT_EQ(images.size(), 4u);
  std::set<std::string> files;
  for (const auto& [id, cells] : images) files.insert(fs::path(cells.at(1)).filename().string());
  EXPECT_EQ(files, (std::set<std::string>{"one.png", "two.png", "listed.png", "direct.png"}));
  EXPECT_EQ(read_json(path("out/run.json"))["inputs"].size(), 3u);

  auto missing = run_command(radpipe("predict " + pipeline.string() + " --out " + path("out2").string() +
                                     " --input " + path("nothing.png").string()));
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("no such file or folder"), std::string::npos) << missing.err;
}

TEST_F(BatchTest, OutputNamesStayInsideTheOutputFolder) {
  const fs::path pipeline = make_pipeline(12, "[[output]]\nstage = \"jsonl\"\nfile = \"../escaped.jsonl\"\n");
  auto ran = run_command(radpipe("predict " + pipeline.string() + " --out " + path("out").string()));
  EXPECT_NE(ran.exit_code, 0);
  EXPECT_NE(ran.err.find("would leave the output folder"), std::string::npos) << ran.err;
  EXPECT_FALSE(fs::exists(path("escaped.jsonl")));
}

} // namespace
