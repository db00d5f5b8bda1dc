// `radpipe train` run for real on FracAtlas images: determinism, checkpoints, resume, and
// prediction from a checkpoint.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

namespace fs = std::filesystem;

namespace {

std::string read_bytes(const fs::path& file) {
  std::ifstream stream(file, std::ios::binary);
  std::ostringstream bytes;
  bytes << stream.rdbuf();
  return bytes.str();
}

class TrainTest : public testing::Test {
protected:
  void SetUp() override {
    folder_ = fs::temp_directory_path() / ("radpipe-train-" + std::to_string(::getpid()) + "-" +
                                           testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(folder_);
    fs::create_directories(folder_);
  }
  void TearDown() override { fs::remove_all(folder_); }

  // A tiny but real training pipeline over the shared FracAtlas labels.
  fs::path write_pipeline(const std::string& name, int seed, bool with_train = true, const std::string& extra_preprocess = "") {
    const fs::path file = folder_ / (name + ".toml");
    std::ofstream out(file);
    out << "[pipeline]\nname = \"" << name << "\"\nseed = " << seed << "\nbatch_size = 8\nworkers = 2\n"
        << "[reader]\nstage = \"csv\"\nfile = \"" << RADPIPE_SHARED_DIR << "/data/fracatlas/labels.csv\"\n"
        << "label_column = \"fractured\"\nbody_part_column = \"body_part\"\n"
        << "[[preprocess]]\nstage = \"grayscale\"\n"
        << "[[preprocess]]\nstage = \"resize\"\nsize = [32, 32]\n"
        << "[[preprocess]]\nstage = \"random_flip\"\n"
        << "[[preprocess]]\nstage = \"normalize\"\n" << extra_preprocess
        << "[model]\nstage = \"cnn\"\nblocks = 2\nwidth = 4\ndropout = 0.2\ndevice = \"cpu\"\n"
        << "[aggregate]\nstage = \"mean\"\n";
    if (with_train) out << "[train]\nepochs = 1\nbatch_size = 8\nlimit = 24\nlearning_rate = 0.01\noutput = \"runs/" << name << "\"\n";
    return file;
  }

  int radpipe(const std::string& arguments) {
    const std::string command = std::string(RADPIPE_EXECUTABLE) + " " + arguments + " >>" + (folder_ / "log.txt").string() + " 2>&1";
    const int status = std::system(command.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string log() const { return read_bytes(folder_ / "log.txt"); }

  fs::path folder_;
};

} // namespace

TEST_F(TrainTest, TheSameSeedOnOneThreadGivesIdenticalWeights) {
  const fs::path pipeline = write_pipeline("same", 7);
  ASSERT_EQ(radpipe("--threads 1 train " + pipeline.string() + " --out " + (folder_ / "a").string()), 0) << log();
  ASSERT_EQ(radpipe("--threads 1 train " + pipeline.string() + " --out " + (folder_ / "b").string()), 0) << log();
  const std::string first = read_bytes(folder_ / "a" / "checkpoints" / "last" / "model.pt");
  ASSERT_GT(first.size(), 1000u);
  EXPECT_TRUE(first == read_bytes(folder_ / "b" / "checkpoints" / "last" / "model.pt")) << "same seed, same weights, bit for bit";

  // The comparison can fail: another seed gives other weights.
  const fs::path other = write_pipeline("other", 8);
  ASSERT_EQ(radpipe("--threads 1 train " + other.string() + " --out " + (folder_ / "c").string()), 0) << log();
  EXPECT_FALSE(first == read_bytes(folder_ / "c" / "checkpoints" / "last" / "model.pt"));
}

TEST_F(TrainTest, WritesCheckpointsHistoryAndResumes) {
  const fs::path pipeline = write_pipeline("resume", 3);
  const fs::path out = folder_ / "runs" / "resume"; // [train] output, relative to the pipeline's folder
  ASSERT_EQ(radpipe("train " + pipeline.string()), 0) << log();
  for (const char* file : {"checkpoints/last/model.pt", "checkpoints/last/model.optimizer.pt", "checkpoints/last/pipeline.toml",
                           "checkpoints/last/meta.json", "checkpoints/epoch-0001/model.pt", "best.pt", "history.csv"})
    EXPECT_TRUE(fs::exists(out / file)) << file;
  auto meta = nlohmann::json::parse(read_bytes(out / "checkpoints" / "last" / "meta.json"));
  EXPECT_EQ(meta["epoch"], 1);
  EXPECT_EQ(meta["class_map"]["1"], "abnormal");
  ASSERT_EQ(meta["chains"]["default"]["history"].size(), 1u); // each chain keeps its own history
  EXPECT_GT(meta["chains"]["default"]["history"][0]["train_loss"].get<double>(), 0.0);

  ASSERT_EQ(radpipe("train " + pipeline.string() + " --resume --epochs 2"), 0) << log();
  EXPECT_NE(log().find("resuming after epoch 1"), std::string::npos) << log();
  std::ifstream history(out / "history.csv");
  std::string header, first, second, extra;
  std::getline(history, header);
  std::getline(history, first);
  std::getline(history, second);
  EXPECT_EQ(header.rfind("epoch,learning_rate,train_loss,val_loss,val_auroc", 0), 0u);
  EXPECT_EQ(first.rfind("1,", 0), 0u);
  EXPECT_EQ(second.rfind("2,", 0), 0u);
  EXPECT_FALSE(std::getline(history, extra));
  EXPECT_EQ(nlohmann::json::parse(read_bytes(out / "checkpoints" / "last" / "meta.json"))["epoch"], 2);

  // Prediction from the checkpoint alone.
  ASSERT_EQ(radpipe("predict " + pipeline.string() + " --checkpoint " + (out / "checkpoints" / "last").string() +
                    " --split valid --limit 5 --out " + (folder_ / "predicted").string()),
            0)
      << log();
  std::ifstream predictions(folder_ / "predicted" / "predictions.csv");
  int rows = 0;
  for (std::string line; std::getline(predictions, line);) ++rows;
  EXPECT_EQ(rows, 6);
}

// A transform with learned state is fitted on the training split, stored in the checkpoint, and
// restored from it at prediction: the checkpoint is all that predict needs.
TEST_F(TrainTest, StoresFittedPreprocessingStateWithTheCheckpoint) {
  const std::string plugins = "--plugin-path " RADPIPE_BINARY_DIR "/tests/abi ";
  const fs::path pipeline = write_pipeline("fitted", 5, true, "[[preprocess]]\nstage = \"subtract_training_mean\"\n");
  ASSERT_EQ(radpipe(plugins + "train " + pipeline.string()), 0) << log();
  const fs::path state = folder_ / "runs" / "fitted" / "checkpoints" / "last" / "preprocess-5.state";
  ASSERT_TRUE(fs::exists(state)) << log();
  const double mean = std::stod(read_bytes(state));
  EXPECT_GT(std::abs(mean), 1e-6) << "normalized radiographs do not average to exactly zero";

  const std::string predict = plugins + "predict " + pipeline.string() + " --split valid --limit 3 --out " + (folder_ / "p").string();
  EXPECT_EQ(radpipe(predict), 3) << "without the checkpoint the stage is not fitted: a plugin error";
  EXPECT_NE(log().find("plugin abi_good, stage transform subtract_training_mean"), std::string::npos) << log();
  EXPECT_EQ(radpipe(predict + " --checkpoint " + state.parent_path().string()), 0) << log();
  EXPECT_TRUE(fs::exists(folder_ / "p" / "predictions.csv"));
}

// The standardize stage end to end: fitted per pixel during training, saved with the checkpoint,
// restored by predict --checkpoint, or named directly by the pipeline without a checkpoint.
TEST_F(TrainTest, StandardizeTravelsWithTheCheckpointOrByName) {
  const std::string stage = "[[preprocess]]\nstage = \"standardize\"\nmode = \"per_pixel\"\n";
  const fs::path pipeline = write_pipeline("standardized", 3, true, stage);
  ASSERT_EQ(radpipe("train " + pipeline.string()), 0) << log();
  const fs::path state = folder_ / "runs" / "standardized" / "checkpoints" / "last" / "preprocess-5.state";
  ASSERT_TRUE(fs::exists(state)) << log();
  EXPECT_NE(read_bytes(state).find("pixel_mean"), std::string::npos) << "per-pixel statistics are saved";

  const auto predict = [&](const fs::path& file, const std::string& out) {
    return "predict " + file.string() + " --split valid --limit 3 --out " + (folder_ / out).string();
  };
  EXPECT_EQ(radpipe(predict(pipeline, "unfitted")), 3) << "an unfitted stage is a plugin error";
  EXPECT_NE(log().find("predict --checkpoint"), std::string::npos) << "the error says how to fit it: " << log();
  EXPECT_EQ(radpipe(predict(pipeline, "p") + " --checkpoint " + state.parent_path().string()), 0) << log();

  const fs::path named = write_pipeline("named", 3, false, stage + "statistics = \"" + state.string() + "\"\n");
  EXPECT_EQ(radpipe(predict(named, "q")), 0) << log();
  EXPECT_TRUE(fs::exists(folder_ / "q" / "predictions.csv"));
}

TEST_F(TrainTest, RefusesAPipelineWithoutTrainTable) {
  EXPECT_EQ(radpipe("train " + write_pipeline("untrained", 1, false).string()), 1);
  EXPECT_NE(log().find("no [train] table"), std::string::npos) << log();
}
