// Ensembles and test-time augmentation through the real binary: predict, evaluate and explain with
// an ensemble of the demo model and a model the test trains from it, with a horizontal-flip TTA,
// on 128x128 grey crops of the bundled radiographs and their mirror images (so that a flip view's
// score can be read off the mirror image's row); check's summary; train and --checkpoint refusing
// an ensemble.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/testing.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;
using radpipe::testing::read_text;
using radpipe::testing::run_command;

namespace {

const fs::path source_dir = RADPIPE_SOURCE_DIR;
const fs::path demo_model = source_dir / "samples/models/fracatlas-cnn5.pt";

radpipe::testing::CommandResult radpipe(const std::string& arguments) {
  return run_command(std::string(RADPIPE_EXECUTABLE) + " " + arguments);
}

// predictions.csv as id -> probability (the ids and paths here hold no commas or quotes).
std::map<std::string, double> probabilities(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  std::vector<std::string> header;
  std::stringstream names(line);
  for (std::string name; std::getline(names, name, ',');) header.push_back(name);
  const auto column = [&](const std::string& name) { return std::find(header.begin(), header.end(), name) - header.begin(); };
  const auto id = column("id"), probability = column("probability");
  std::map<std::string, double> out;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string cell; std::getline(row, cell, ',');) cells.push_back(cell);
    out[cells.at(id)] = std::stod(cells.at(probability));
  }
  return out;
}

double logit(double p) { return std::log(p / (1 - p)); }
double sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

class EnsembleCli : public testing::Test {
protected:
  // Twelve 128x128 grey PNGs: six radiographs (three fractured) in the split "valid" and their
  // mirror images in "train", in one CSV.
  static void SetUpTestSuite() {
    folder_ = new radpipe::testing::TempFolder();
    std::ifstream labels(source_dir / "samples/fracatlas/labels.csv");
    std::string line;
    std::getline(labels, line);
    std::ostringstream csv;
    csv << "image,label,split\n";
    for (int taken = 0; taken < 6 && std::getline(labels, line);) {
      std::stringstream row(line);
      std::string image, part, fractured;
      std::getline(row, image, ',');
      std::getline(row, part, ',');
      std::getline(row, fractured, ',');
      if ((taken % 2 == 0) != (fractured == "1")) continue; // alternate labels
      cv::Mat grey = cv::imread((source_dir / "samples/fracatlas" / image).string(), cv::IMREAD_GRAYSCALE), small, mirror;
      cv::resize(grey, small, {128, 128}, 0, 0, cv::INTER_AREA);
      cv::flip(small, mirror, 1);
      const std::string name = "image" + std::to_string(taken);
      cv::imwrite((folder_->path() / (name + ".png")).string(), small);
      cv::imwrite((folder_->path() / (name + "-mirror.png")).string(), mirror);
      csv << name << ".png," << fractured << ",valid\n" << name << "-mirror.png," << fractured << ",train\n";
      ++taken;
    }
    folder_->write("images.csv", csv.str());
  }
  static void TearDownTestSuite() {
    delete folder_;
    folder_ = nullptr;
  }

  static fs::path path(const std::string& name) { return folder_->path() / name; }

  // A pipeline over the twelve images whose [model] table has `model_keys` besides the demo's.
  static fs::path pipeline(const std::string& name, const std::string& model_keys) {
    return folder_->write(name + ".toml",
                          "[pipeline]\nname = \"" + name + "\"\nbatch_size = 5\n"
                          "[reader]\nstage = \"csv\"\nfile = \"images.csv\"\nimage_column = \"image\"\nlabel_column = \"label\"\n"
                          "[[preprocess]]\nstage = \"grayscale\"\n"
                          "[[preprocess]]\nstage = \"normalize\"\npreset = \"imagenet\"\n"
                          "[model]\nstage = \"cnn\"\nblocks = 5\nwidth = 16\ninput_channels = 1\ndropout = 0.3\ndevice = \"cpu\"\n" +
                              model_keys +
                              "[aggregate]\nstage = \"mean\"\n"
                              "[explain]\nstage = \"gradcam\"\n"
                              "[evaluate]\nbootstrap_resamples = 50\n"
                              "[train]\nepochs = 1\nbatch_size = 4\nlearning_rate = 0.001\nscheduler = \"none\"\n");
  }

  static std::map<std::string, double> predict(const fs::path& pipeline, const std::string& out) {
    const auto result = radpipe("predict " + pipeline.string() + " --out " + path(out).string());
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return probabilities(path(out) / "predictions.csv");
  }

  static radpipe::testing::TempFolder* folder_;
};

radpipe::testing::TempFolder* EnsembleCli::folder_ = nullptr;

const std::string demo_weights = "weights = \"" + demo_model.string() + "\"\n";

TEST_F(EnsembleCli, PredictAndEvaluateAverageTheMembersAndTheFlippedViews) {
  // A second member: the demo model after one epoch on the mirror images.
  const auto plain = pipeline("plain", demo_weights);
  auto trained = radpipe("train " + plain.string() + " --out " + path("second").string());
  ASSERT_EQ(trained.exit_code, 0) << trained.err;
  const fs::path second = path("second") / "best.pt";
  ASSERT_TRUE(fs::exists(second));

  const auto a = predict(plain, "a");
  const auto b = predict(pipeline("b", "weights = \"" + second.string() + "\"\n"), "b");
  ASSERT_EQ(a.size(), 12u);
  const std::string members = "ensemble = [\"" + demo_model.string() + "\", \"second/best.pt\"]\n";
  const auto by_probability = predict(pipeline("mean-p", members), "mean-p");
  const auto by_logit = predict(pipeline("mean-l", members + "average = \"logit\"\n"), "mean-l");
  const auto flipped = predict(pipeline("flip", demo_weights + "tta_flips = [\"horizontal\"]\n"), "flip");
  double moved_by_training = 0, moved_by_flip = 0;
  for (const auto& [id, p] : a) {
    moved_by_training = std::max(moved_by_training, std::abs(p - b.at(id)));
    EXPECT_NEAR(by_probability.at(id), (p + b.at(id)) / 2, 2e-6) << id;
    EXPECT_NEAR(by_logit.at(id), sigmoid((logit(p) + logit(b.at(id))) / 2), 1e-4) << id;
    // The flip view of an image is its mirror image, scored in its own row.
    const std::string mirror = id.ends_with("-mirror") ? id.substr(0, id.size() - 7) : id + "-mirror";
    EXPECT_NEAR(flipped.at(id), (p + a.at(mirror)) / 2, 2e-6) << id;
    moved_by_flip = std::max(moved_by_flip, std::abs(flipped.at(id) - p));
  }
  EXPECT_GT(moved_by_training, 1e-3);
  EXPECT_GT(moved_by_flip, 1e-3);

  // Both at once, checked, predicted, evaluated and explained.
  const auto both = pipeline("both", members + "average = \"logit\"\ntta_flips = [\"horizontal\"]\n");
  auto check = radpipe("check " + both.string());
  ASSERT_EQ(check.exit_code, 0) << check.err;
  EXPECT_NE(check.out.find("1 chain: default (cnn, ensemble of 2, logit average, TTA: horizontal flip)"), std::string::npos) << check.out;
  const auto predicted = predict(both, "both");
  for (const auto& [id, p] : a) {
    const std::string mirror = id.ends_with("-mirror") ? id.substr(0, id.size() - 7) : id + "-mirror";
    const double expected = sigmoid((logit(p) + logit(b.at(id)) + logit(a.at(mirror)) + logit(b.at(mirror))) / 4);
    EXPECT_NEAR(predicted.at(id), expected, 1e-4) << id;
  }
  auto evaluated = radpipe("evaluate " + both.string() + " --out " + path("evaluation").string());
  ASSERT_EQ(evaluated.exit_code, 0) << evaluated.err;
  for (const auto& [id, p] : probabilities(path("evaluation") / "predictions.csv")) EXPECT_NEAR(p, predicted.at(id), 1e-6) << id;
  const auto metrics = nlohmann::json::parse(read_text(path("evaluation") / "metrics.json"));
  EXPECT_TRUE(metrics["levels"].contains("image")) << metrics.dump().substr(0, 400);

  auto explained = radpipe("explain " + both.string() + " --out " + path("explain").string() + " --limit 4");
  ASSERT_EQ(explained.exit_code, 0) << explained.err;
  EXPECT_TRUE(fs::exists(path("explain") / "explanations.csv"));
  std::size_t heatmaps = 0;
  for (const auto& entry : fs::directory_iterator(path("explain") / "heatmaps")) heatmaps += entry.path().extension() == ".png";
  EXPECT_GE(heatmaps, 4u);
}

TEST_F(EnsembleCli, TrainingAndACheckpointRefuseAnEnsembleNamingTheKey) {
  const auto file = pipeline("refused", "ensemble = [\"" + demo_model.string() + "\", \"" + demo_model.string() + "\"]\n");
  // [model] starts on line 14 of the file; ensemble is on line 21.
  const std::string place = file.string() + ":21:12: error: [model] is an ensemble of 2 weights files";
  auto trained = radpipe("train " + file.string() + " --out " + path("refused-run").string());
  EXPECT_NE(trained.exit_code, 0);
  EXPECT_NE(trained.err.find(place + ", and training trains one model per chain"), std::string::npos) << trained.err;
  EXPECT_NE(trained.err.find("--set model.ensemble=[]"), std::string::npos) << trained.err;

  auto checkpoint = radpipe("predict " + file.string() + " --checkpoint " + (source_dir / "samples/models").string() + " --out " +
                            path("refused-predict").string());
  EXPECT_NE(checkpoint.exit_code, 0);
  EXPECT_NE(checkpoint.err.find(place + ", and --checkpoint"), std::string::npos) << checkpoint.err;
  // The override the message offers scores one model.
  auto alone = radpipe("check " + file.string() + " --set 'model.ensemble=[]'");
  EXPECT_EQ(alone.exit_code, 0) << alone.err;
  EXPECT_NE(alone.out.find("1 chain: default (cnn)"), std::string::npos) << alone.out;
}

} // namespace
