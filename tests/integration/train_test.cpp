// `radpipe train` run for real on FracAtlas images: determinism, checkpoints, resume, and
// prediction from a checkpoint.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <filesystem>
#include <set>
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

  // The smallest training that still has every part: dropout (torch's generator), a random flip
  // (per-sample seeds), a plateau schedule that moves whenever the loss does not improve.
  fs::path write_tiny_pipeline(const std::string& name, int seed, const std::string& train_extra = "",
                               const std::string& extra_preprocess = "") {
    const fs::path file = folder_ / (name + ".toml");
    std::ofstream out(file);
    out << "[pipeline]\nname = \"" << name << "\"\nseed = " << seed << "\nbatch_size = 8\nworkers = 1\nthreads = 1\n"
        << "[reader]\nstage = \"csv\"\nfile = \"" << RADPIPE_SHARED_DIR << "/data/fracatlas/labels.csv\"\n"
        << "label_column = \"fractured\"\nbody_part_column = \"body_part\"\n"
        << "[[preprocess]]\nstage = \"grayscale\"\n"
        << "[[preprocess]]\nstage = \"resize\"\nsize = [16, 16]\n"
        << "[[preprocess]]\nstage = \"random_flip\"\n"
        << "[[preprocess]]\nstage = \"normalize\"\n" << extra_preprocess
        << "[model]\nstage = \"cnn\"\nblocks = 2\nwidth = 4\ndropout = 0.5\ndevice = \"cpu\"\n"
        << "[aggregate]\nstage = \"mean\"\n"
        << "[train]\nepochs = 2\nbatch_size = 4\nlimit = 8\nlearning_rate = 0.05\nplateau_patience = 0\nplateau_factor = 0.5\n"
        << "keep_best = 1\n" << train_extra;
    return file;
  }

  int radpipe(const std::string& arguments, const std::string& environment = "") {
    const std::string command =
        environment + " " + std::string(RADPIPE_EXECUTABLE) + " " + arguments + " >>" + (folder_ / "log.txt").string() + " 2>&1";
    const int status = std::system(command.c_str());
    // 128 + the signal, as a shell reports a killed command (the shell may exec radpipe itself).
    return WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
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

// A loss that becomes NaN once made validation spin forever in the AUROC; it must stop training at
// once, saying where and why. The test plugin's add_offset of 1e39 overflows float pixels to
// infinity (as a denormal normalize std did before the schema refused it), and BatchNorm turns
// them into NaN in the first batch.
TEST_F(TrainTest, ANonFiniteLossStopsTrainingNamingEpochBatchAndCause) {
  const std::string plugins = "--plugin-path " RADPIPE_BINARY_DIR "/tests/abi ";
  const std::string overflow = "[[preprocess]]\nstage = \"add_offset\"\noffset = 1e39\n";
  const fs::path pipeline = write_tiny_pipeline("diverging", 1, "", overflow);
  ASSERT_EQ(radpipe(plugins + "train " + pipeline.string() + " --out " + (folder_ / "run").string(), "timeout 300"), 4) << log();
  const std::string text = log();
  EXPECT_NE(text.find("epoch 1, batch 1 of model"), std::string::npos) << text;
  EXPECT_NE(text.find("the training loss is nan"), std::string::npos) << text;
  EXPECT_NE(text.find("input holds values that are not finite"), std::string::npos) << "the likely cause: " << text;
  EXPECT_NE(text.find("on_nonfinite_loss"), std::string::npos) << "the way to skip instead: " << text;
  EXPECT_FALSE(fs::exists(folder_ / "run" / "best.pt")) << "no checkpoint of spoiled weights";

  // Skipping every batch learns nothing: that stops too, after the epoch, with its own message.
  const fs::path skipping = write_tiny_pipeline("skipping", 1, "on_nonfinite_loss = \"skip\"\n", overflow);
  ASSERT_EQ(radpipe(plugins + "train " + skipping.string() + " --out " + (folder_ / "skip").string(), "timeout 300"), 4) << log();
  EXPECT_NE(log().find("batch skipped"), std::string::npos) << log();
  EXPECT_NE(log().find("every batch (1 of 1) had a non-finite loss"), std::string::npos) << log();
}

// A full disk while a checkpoint is written: exit 4 with a message, never an abort (LibTorch's
// archive writer used to throw from its destructor). RLIMIT_FSIZE stands in for the full disk;
// the log goes through a pipe so that the limit hits only the files radpipe writes.
TEST_F(TrainTest, AFullDiskWhileSavingIsExit4WithAMessage) {
  const fs::path pipeline = write_tiny_pipeline("full", 1);
  const std::string command = "bash -c 'set -o pipefail; prlimit --fsize=2048 " + std::string(RADPIPE_EXECUTABLE) + " train " +
                              pipeline.string() + " --out " + (folder_ / "run").string() + " 2>&1 | cat >>" +
                              (folder_ / "log.txt").string() + "'";
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 4) << log();
  EXPECT_NE(log().find("cannot save the checkpoint of epoch 1"), std::string::npos) << log();
  EXPECT_NE(log().find("File too large"), std::string::npos) << "the system's reason: " << log();
  EXPECT_EQ(log().find("terminate called"), std::string::npos) << log();
}

namespace {

// What the test below needs of a finished run: the epoch its last checkpoint holds, the weights
// there, and whether best.pt holds the weights of the epoch its metadata calls best.
struct RunState {
  int last_epoch = 0;
  std::string last_weights;
  bool best_matches_meta = false;
  std::size_t history_rows = 0;
  std::vector<std::string> leftovers; // .tmp and .old entries
};

RunState state_of(const fs::path& run) {
  RunState state;
  const fs::path last = run / "checkpoints" / "last";
  const auto meta = nlohmann::json::parse(read_bytes(last / "meta.json"), nullptr, false);
  if (meta.is_discarded()) return state;
  state.last_epoch = meta["epoch"].get<int>();
  state.last_weights = read_bytes(last / "model.pt");
  // best.pt holds the weights of the epoch meta.json names best: those the checkpoint keeps as
  // model.best.pt, and those of that epoch's folder when keep_best kept it.
  char best_folder[32];
  std::snprintf(best_folder, sizeof best_folder, "epoch-%04d", meta["chains"]["default"]["best_epoch"].get<int>());
  const std::string best = read_bytes(run / "best.pt");
  // With [train] ema_decay, the epoch's average is what was validated, so what best.pt holds.
  fs::path best_epoch_weights = run / "checkpoints" / best_folder / "model.average.pt";
  if (!fs::exists(best_epoch_weights)) best_epoch_weights.replace_filename("model.pt");
  state.best_matches_meta = !best.empty() && best == read_bytes(last / "model.best.pt") &&
                            (!fs::exists(best_epoch_weights) || best == read_bytes(best_epoch_weights));
  std::ifstream history(run / "history.csv");
  for (std::string line; std::getline(history, line);) ++state.history_rows;
  for (const auto& entry : fs::recursive_directory_iterator(run)) {
    const std::string name = entry.path().filename().string();
    if (name.find(".tmp") != std::string::npos || name.ends_with(".old")) state.leftovers.push_back(name);
  }
  return state;
}

} // namespace

// Resume reproduces the uninterrupted run bit for bit (CPU, one thread), and a kill at any file
// operation of a checkpoint save loses nothing: RADPIPE_TEST_KILL_AT_FILE_OP=N kills the process
// at its N-th file operation, for every N of the second epoch's save in turn; each time,
// `--resume` finishes with a valid last/, a best.pt that matches its metadata, and the weights of
// the run that was never stopped.
TEST_F(TrainTest, AKillAtEveryFileOperationOfASaveResumesToTheUninterruptedWeights) {
  const fs::path pipeline = write_tiny_pipeline("killed", 4);
  ASSERT_EQ(radpipe("train " + pipeline.string() + " --out " + (folder_ / "reference").string()), 0) << log();
  const RunState reference = state_of(folder_ / "reference");
  ASSERT_EQ(reference.last_epoch, 2);
  ASSERT_TRUE(reference.best_matches_meta);
  ASSERT_TRUE(reference.leftovers.empty()) << reference.leftovers.front();
  const auto reference_meta = nlohmann::json::parse(read_bytes(folder_ / "reference" / "checkpoints" / "last" / "meta.json"));
  // The seed is chosen so that epoch 2 improves: its save then writes every file (epoch folder,
  // last, best.pt) and prunes epoch 1's folder (keep_best = 1).
  ASSERT_EQ(reference_meta["chains"]["default"]["best_epoch"], 2) << "pick another seed: epoch 2 must be the best";
  ASSERT_FALSE(fs::exists(folder_ / "reference" / "checkpoints" / "epoch-0001"));

  // Stopped after epoch 1 (--epochs 1 is a run killed just after its first save), then resumed.
  const fs::path after_first = folder_ / "after-first";
  ASSERT_EQ(radpipe("train " + pipeline.string() + " --epochs 1 --out " + after_first.string()), 0) << log();
  fs::copy(after_first, folder_ / "resumed", fs::copy_options::recursive);
  ASSERT_EQ(radpipe("train " + pipeline.string() + " --resume --out " + (folder_ / "resumed").string()), 0) << log();
  EXPECT_TRUE(state_of(folder_ / "resumed").last_weights == reference.last_weights) << "resume must repeat the uninterrupted run";

  int killed_runs = 0;
  for (int operation = 1; operation < 200; ++operation) {
    SCOPED_TRACE("killed at file operation " + std::to_string(operation));
    const fs::path run = folder_ / ("kill-" + std::to_string(operation));
    fs::copy(after_first, run, fs::copy_options::recursive);
    const int killed = radpipe("train " + pipeline.string() + " --resume --out " + run.string(),
                               "RADPIPE_TEST_KILL_AT_FILE_OP=" + std::to_string(operation));
    if (killed == 0) break; // the save has fewer operations than this: every one was tried
    ASSERT_EQ(killed, 128 + 9) << "killed by SIGKILL: " << log();
    ++killed_runs;
    ASSERT_EQ(radpipe("train " + pipeline.string() + " --resume --out " + run.string()), 0) << log();
    const RunState state = state_of(run);
    EXPECT_EQ(state.last_epoch, 2);
    EXPECT_TRUE(state.best_matches_meta) << "best.pt must hold the weights of the epoch meta.json calls best";
    EXPECT_TRUE(state.last_weights == reference.last_weights) << "the resumed run must end with the uninterrupted run's weights";
    EXPECT_EQ(state.history_rows, 3u) << "header and two epochs";
    EXPECT_TRUE(state.leftovers.empty()) << state.leftovers.front();
    fs::remove_all(run);
    if (HasFailure()) break;
  }
  EXPECT_GT(killed_runs, 15) << "a save has more file operations than that; did the hook stop counting?";
}

// [train] ema_decay: training itself is untouched (the same live weights and training losses as
// without it), validation scores the average (other validation losses), best.pt is the average of
// the best epoch, a resume repeats the uninterrupted average bit for bit, and predict scores a
// checkpoint with its average.
TEST_F(TrainTest, AWeightAverageIsValidatedSavedResumedAndScoredWithoutChangingTraining) {
  const fs::path plain = write_tiny_pipeline("plain", 4);
  const fs::path averaged = write_tiny_pipeline("averaged", 4, "ema_decay = 0.9\n");
  const fs::path plain_run = folder_ / "plain-run", run = folder_ / "averaged-run";
  ASSERT_EQ(radpipe("train " + plain.string() + " --out " + plain_run.string()), 0) << log();
  ASSERT_EQ(radpipe("train " + averaged.string() + " --out " + run.string()), 0) << log();
  EXPECT_NE(log().find("exponential moving average of the weights (decay 0.9"), std::string::npos) << log();

  const fs::path last = run / "checkpoints" / "last";
  EXPECT_FALSE(fs::exists(plain_run / "checkpoints" / "last" / "model.average.pt")) << "no average unless asked";
  ASSERT_TRUE(fs::exists(last / "model.average.pt"));
  EXPECT_TRUE(read_bytes(last / "model.pt") == read_bytes(plain_run / "checkpoints" / "last" / "model.pt"))
      << "the average must not change what is trained";
  EXPECT_FALSE(read_bytes(last / "model.pt") == read_bytes(last / "model.average.pt"));

  const auto history = [](const fs::path& folder) {
    std::ifstream file(folder / "history.csv");
    std::vector<std::vector<std::string>> rows;
    std::string line;
    std::getline(file, line);
    while (std::getline(file, line)) {
      std::vector<std::string> cells;
      std::stringstream row_text(line);
      for (std::string cell; std::getline(row_text, cell, ',');) cells.push_back(cell);
      rows.push_back(cells);
    }
    return rows;
  };
  const auto plain_history = history(plain_run), averaged_history = history(run);
  ASSERT_EQ(plain_history.size(), 2u);
  ASSERT_EQ(averaged_history.size(), 2u);
  for (std::size_t epoch = 0; epoch < 2; ++epoch)
    EXPECT_EQ(averaged_history[epoch][2], plain_history[epoch][2]) << "training loss of epoch " << epoch + 1;
  EXPECT_NE(averaged_history[1][3], plain_history[1][3]) << "validation must score the average, not the live weights";

  const RunState state = state_of(run);
  EXPECT_TRUE(state.best_matches_meta);
  const auto meta = nlohmann::json::parse(read_bytes(last / "meta.json"));
  char best_folder[32];
  std::snprintf(best_folder, sizeof best_folder, "epoch-%04d", meta["chains"]["default"]["best_epoch"].get<int>());
  EXPECT_TRUE(read_bytes(run / "best.pt") == read_bytes(run / "checkpoints" / best_folder / "model.average.pt"))
      << "best.pt is the average that was validated";

  // Stopped after epoch 1 and resumed: the same live weights and the same average.
  const fs::path resumed = folder_ / "resumed";
  ASSERT_EQ(radpipe("train " + averaged.string() + " --epochs 1 --out " + resumed.string()), 0) << log();
  ASSERT_EQ(radpipe("train " + averaged.string() + " --resume --out " + resumed.string()), 0) << log();
  EXPECT_TRUE(read_bytes(resumed / "checkpoints" / "last" / "model.pt") == read_bytes(last / "model.pt"));
  EXPECT_TRUE(read_bytes(resumed / "checkpoints" / "last" / "model.average.pt") == read_bytes(last / "model.average.pt"))
      << "the resumed average must repeat the uninterrupted one";

  // A checkpoint scores with its average; without the file, with the live weights.
  ASSERT_EQ(radpipe("predict " + averaged.string() + " --checkpoint " + last.string() + " --split valid --limit 4 --out " +
                    (folder_ / "scored").string()),
            0)
      << log();
  EXPECT_NE(log().find("weights from " + (last / "model.average.pt").string()), std::string::npos) << log();
  const fs::path live_only = folder_ / "live-only";
  fs::copy(last, live_only, fs::copy_options::recursive);
  fs::remove(live_only / "model.average.pt");
  ASSERT_EQ(radpipe("predict " + averaged.string() + " --checkpoint " + live_only.string() + " --split valid --limit 4 --out " +
                    (folder_ / "scored-live").string()),
            0)
      << log();
  EXPECT_FALSE(read_bytes(folder_ / "scored" / "predictions.csv") == read_bytes(folder_ / "scored-live" / "predictions.csv"));
}

// [train] mixup: batches are mixed (the training losses change, validation of the same weights
// would not), the draws follow the seed (the same run twice gives the same weights), and a resumed
// run mixes as the uninterrupted one did.
TEST_F(TrainTest, MixupChangesTrainingReproduciblyAndResumesExactly) {
  const fs::path plain = write_tiny_pipeline("unmixed", 4);
  const fs::path mixed = write_tiny_pipeline("mixed", 4, "mixup = 0.4\n");
  ASSERT_EQ(radpipe("train " + plain.string() + " --out " + (folder_ / "unmixed").string()), 0) << log();
  ASSERT_EQ(radpipe("train " + mixed.string() + " --out " + (folder_ / "mixed").string()), 0) << log();
  EXPECT_NE(log().find("mixup of each training batch"), std::string::npos) << log();
  const std::string weights = read_bytes(folder_ / "mixed" / "checkpoints" / "last" / "model.pt");
  EXPECT_FALSE(weights == read_bytes(folder_ / "unmixed" / "checkpoints" / "last" / "model.pt")) << "mixup must change training";

  ASSERT_EQ(radpipe("train " + mixed.string() + " --out " + (folder_ / "mixed-again").string()), 0) << log();
  EXPECT_TRUE(weights == read_bytes(folder_ / "mixed-again" / "checkpoints" / "last" / "model.pt")) << "seeded draws";

  const fs::path resumed = folder_ / "mixed-resumed";
  ASSERT_EQ(radpipe("train " + mixed.string() + " --epochs 1 --out " + resumed.string()), 0) << log();
  ASSERT_EQ(radpipe("train " + mixed.string() + " --resume --out " + resumed.string()), 0) << log();
  EXPECT_TRUE(weights == read_bytes(resumed / "checkpoints" / "last" / "model.pt")) << "a resumed run must mix as before";
}

// [train] select = last: best.pt holds the final epoch's weights whatever the monitor prefers, also
// across a resume, while training, and so the weights of every epoch, stay those of the default run.
TEST_F(TrainTest, SelectLastKeepsTheFinalEpochInBestPtWithoutChangingTraining) {
  const fs::path pipeline = write_tiny_pipeline("select", 6);
  const std::string four_epochs = pipeline.string() + " --set train.epochs=4";
  const fs::path by_monitor = folder_ / "by-monitor", by_last = folder_ / "by-last";
  ASSERT_EQ(radpipe("train " + four_epochs + " --out " + by_monitor.string()), 0) << log();
  ASSERT_EQ(radpipe("train " + four_epochs + " --set train.select=last --out " + by_last.string()), 0) << log();
  auto best_epoch_of = [](const fs::path& run) {
    return nlohmann::json::parse(read_bytes(run / "checkpoints" / "last" / "meta.json"))["chains"]["default"]["best_epoch"].get<int>();
  };
  ASSERT_LT(best_epoch_of(by_monitor), 4) << "pick another seed: the monitor must prefer an earlier epoch";
  EXPECT_EQ(best_epoch_of(by_last), 4);
  const RunState last = state_of(by_last);
  EXPECT_TRUE(last.best_matches_meta);
  EXPECT_TRUE(read_bytes(by_last / "best.pt") == last.last_weights) << "best.pt must hold the final epoch's weights";
  EXPECT_TRUE(last.last_weights == state_of(by_monitor).last_weights) << "select must not change training";
  EXPECT_FALSE(read_bytes(by_monitor / "best.pt") == read_bytes(by_last / "best.pt"));
  EXPECT_NE(log().find("the last epoch's weights (select = last)"), std::string::npos) << log();

  const fs::path resumed = folder_ / "by-last-resumed";
  ASSERT_EQ(radpipe("train " + four_epochs + " --set train.select=last --epochs 2 --out " + resumed.string()), 0) << log();
  ASSERT_EQ(radpipe("train " + four_epochs + " --set train.select=last --resume --out " + resumed.string()), 0) << log();
  EXPECT_TRUE(read_bytes(resumed / "best.pt") == last.last_weights) << "a resumed run must end with the final epoch in best.pt";
}
