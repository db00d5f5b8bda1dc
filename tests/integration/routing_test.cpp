// Routed model chains through the real binary: a whole chain per body part with a fallback,
// chains sharing a device, routing by a DICOM tag, a body-part classifier trained first and then
// routing studies to per-part chains, and resuming a routed training run.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <radpipe/csv_rows.hpp>
#include <radpipe/testing.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

namespace fs = std::filesystem;
using radpipe::testing::read_text;
using radpipe::testing::read_csv_rows;
using radpipe::testing::run_command;

namespace {

const fs::path source_dir = RADPIPE_SOURCE_DIR;
const fs::path demo_model = source_dir / "samples/models/fracatlas-cnn5.pt";


class RoutingTest : public testing::Test {
protected:
  fs::path path(const std::string& name) const { return folder_.path() / name; }

  fs::path write(const std::string& name, const std::string& text) const { return folder_.write(name, text); }

  radpipe::testing::CommandResult radpipe(const std::string& arguments) const {
    return run_command(std::string(RADPIPE_EXECUTABLE) + " " + arguments);
  }

  // The demo pipeline's reader, steps and model, as the demo runs them.
  std::string demo_head(const std::string& name) const {
    return "[pipeline]\nname = \"" + name + "\"\nbatch_size = 3\n"
           "[reader]\nstage = \"csv\"\nfile = \"" + (source_dir / "samples/fracatlas/labels.csv").string() + "\"\n"
           "label_column = \"fractured\"\nbody_part_column = \"body_part\"\n"
           "[[preprocess]]\nstage = \"grayscale\"\n"
           "[[preprocess]]\nstage = \"resize\"\nsize = [128, 128]\nmode = \"pad\"\n"
           "[[preprocess]]\nstage = \"normalize\"\npreset = \"imagenet\"\n"
           "[aggregate]\nstage = \"mean\"\n";
  }
  std::string demo_model_table(const std::string& table, const std::string& device = "auto") const {
    return "[" + table + "]\nstage = \"cnn\"\nblocks = 5\nwidth = 16\ninput_channels = 1\ndropout = 0.3\nweights = \"" + demo_model.string() +
           "\"\ndevice = \"" + device + "\"\n";
  }

  radpipe::testing::TempFolder folder_;
};

TEST_F(RoutingTest, EachBodyPartMeetsItsOwnChainAndTheRestTheFallbackInInputOrder) {
  const auto plain = write("plain.toml", demo_head("plain") + demo_model_table("model"));
  // Same weights and steps in every chain: routing must not change a single probability. Small,
  // different batch sizes make the chains finish out of step with the input.
  const auto routed = write("routed.toml", demo_head("routed") + demo_model_table("model", "cpu") +
                                               "[route]\nstage = \"by_field\"\nby = \"body_part\"\n"
                                               "[route.hand]\nbatch_size = 2\n" + demo_model_table("route.hand.model", "cpu") +
                                               "[route.leg]\nbatch_size = 5\nmatch = [\"LEG\", \"tibia\"]\n" +
                                               demo_model_table("route.leg.model", "cpu"));
  auto result = radpipe("check " + routed.string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.out.find("3 chains"), std::string::npos) << result.out;
  result = radpipe("predict " + plain.string() + " --out " + path("plain-out").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  result = radpipe("predict " + routed.string() + " --out " + path("routed-out").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;

  const auto expected = read_csv_rows(path("plain-out/predictions.csv"));
  const auto rows = read_csv_rows(path("routed-out/predictions.csv"));
  ASSERT_EQ(rows.size(), 20u);
  ASSERT_EQ(rows.size(), expected.size());
  std::map<std::string, int> per_chain;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].at("id"), expected[i].at("id")) << "input order is kept at row " << i;
    EXPECT_NEAR(std::stod(rows[i].at("probability")), std::stod(expected[i].at("probability")), 1e-6) << rows[i].at("id");
    const std::string& part = rows[i].at("body_part");
    const std::string want = part == "hand" || part == "leg" ? part : "default";
    EXPECT_EQ(rows[i].at("chain"), want) << rows[i].at("id") << " (" << part << ")";
    EXPECT_EQ(rows[i].at("routed_value"), part);
    ++per_chain[rows[i].at("chain")];
  }
  EXPECT_GT(per_chain["hand"], 0);
  EXPECT_GT(per_chain["leg"], 0);
  EXPECT_GT(per_chain["default"], 0);
  const auto studies = read_csv_rows(path("routed-out/studies.csv"));
  for (const auto& study : studies) EXPECT_FALSE(study.at("chain").empty());
  const auto run = nlohmann::json::parse(read_text(path("routed-out/run.json")));
  EXPECT_EQ(run["chains"]["hand"].get<int>(), per_chain["hand"]);
}

TEST_F(RoutingTest, UnknownValuesAreSkippedOrStopTheRunAsConfigured) {
  const std::string routes = "[route.hand]\n" + demo_model_table("route.hand.model", "cpu");
  const auto skipping = write("skip.toml", demo_head("skip") + "[route]\nstage = \"by_field\"\nby = \"body_part\"\non_unknown = \"skip\"\n" + routes);
  auto result = radpipe("predict " + skipping.string() + " --out " + path("skip-out").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = read_csv_rows(path("skip-out/predictions.csv"));
  ASSERT_FALSE(rows.empty());
  for (const auto& row : rows) EXPECT_EQ(row.at("chain"), "hand");
  const auto run = nlohmann::json::parse(read_text(path("skip-out/run.json")));
  EXPECT_EQ(run["skipped"].size() + rows.size(), 20u);

  const auto failing = write("fail.toml", demo_head("fail") + "[route]\nstage = \"by_field\"\nby = \"body_part\"\non_unknown = \"fail\"\n" + routes);
  result = radpipe("predict " + failing.string() + " --out " + path("fail-out").string());
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("no chain for router value 'leg'"), std::string::npos) << result.err;
}

TEST_F(RoutingTest, RoutesDicomFilesByTheirBodyPartExaminedTag) {
  const fs::path dicom = fs::path(RADPIPE_SHARED_DIR) / "data/dicom";
  if (!fs::exists(dicom)) GTEST_SKIP() << "no shared DICOM files at " << dicom;
  const auto pipeline = write("dicom.toml", "[pipeline]\nname = \"dicom-routed\"\nbatch_size = 2\n"
                                            "[reader]\nstage = \"dicom\"\npath = \"" + dicom.string() + "\"\n"
                                            "[[preprocess]]\nstage = \"resize\"\nsize = [128, 128]\nmode = \"pad\"\n"
                                            "[[preprocess]]\nstage = \"normalize\"\npreset = \"imagenet\"\n"
                                            "[aggregate]\nstage = \"mean\"\n" + demo_model_table("model", "cpu") +
                                            "[route]\nstage = \"by_field\"\nby = \"BodyPartExamined\"\n"
                                            "[route.limb]\nmatch = [\"EXTREMITY\"]\n" + demo_model_table("route.limb.model", "cpu"));
  auto result = radpipe("predict " + pipeline.string() + " --out " + path("out").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = read_csv_rows(path("out/predictions.csv"));
  ASSERT_EQ(rows.size(), 3u);
  for (const auto& row : rows) {
    const bool chest = row.at("path").find("RG1") != std::string::npos;
    EXPECT_EQ(row.at("chain"), chest ? "default" : "limb") << row.at("path");
    EXPECT_EQ(row.at("routed_value"), chest ? "CHEST" : "EXTREMITY");
  }
}

// Images whose body part shows as a shape (hand: disc, leg: bar) and whose label shows as a
// bright corner mark, so that tiny CNNs learn both in seconds.
void write_shapes(const fs::path& folder, int count, std::uint32_t seed) {
  std::mt19937 random(seed);
  std::ofstream csv(folder / "labels.csv");
  csv << "image,body_part,label,split\n";
  for (int i = 0; i < count; ++i) {
    const bool hand = i % 2 == 0;
    const int label = (i / 2) % 2;
    cv::Mat image(32, 32, CV_8U, cv::Scalar(20 + static_cast<int>(random() % 20)));
    const int x = 12 + static_cast<int>(random() % 8), y = 12 + static_cast<int>(random() % 8);
    if (hand) cv::circle(image, {x, y}, 7, cv::Scalar(200), cv::FILLED);
    else cv::rectangle(image, {x - 9, y - 3}, {x + 9, y + 3}, cv::Scalar(200), cv::FILLED);
    if (label == 1) cv::rectangle(image, {0, 0}, {5, 5}, cv::Scalar(255), cv::FILLED);
    const std::string name = "images/" + std::to_string(i) + ".png";
    fs::create_directories(folder / "images");
    cv::imwrite((folder / name).string(), image);
    csv << name << ',' << (hand ? "hand" : "leg") << ',' << label << ',' << (i % 5 == 4 ? "valid" : "train") << '\n';
  }
}

std::string bone_first_pipeline(const fs::path& data) {
  return "[pipeline]\nname = \"shapes\"\nbatch_size = 8\nseed = 3\nthreads = 1\n"
         "[reader]\nstage = \"csv\"\nfile = \"" + (data / "labels.csv").string() + "\"\n"
         "label_column = \"label\"\nbody_part_column = \"body_part\"\n"
         "[[preprocess]]\nstage = \"normalize\"\n"
         "[aggregate]\nstage = \"mean\"\n"
         "[train]\nepochs = 6\nbatch_size = 8\nlearning_rate = 0.01\nscheduler = \"none\"\nmonitor = \"val_loss\"\n"
         "[route]\nstage = \"classifier\"\nconsult = \"part\"\ntrain_by = \"body_part\"\nmin_confidence = 0.5\non_unknown = \"skip\"\n"
         "[route.part.model]\nstage = \"cnn\"\nblocks = 2\nwidth = 8\noutputs = 2\nclasses = [\"hand\", \"leg\"]\ntarget = \"body_part\"\ndevice = \"cpu\"\n"
         "[route.part.train]\nmonitor = \"accuracy\"\n"
         "[route.hand.model]\nstage = \"cnn\"\nblocks = 2\nwidth = 8\ndevice = \"cpu\"\n"
         "[route.leg.model]\nstage = \"cnn\"\nblocks = 2\nwidth = 8\ndevice = \"cpu\"\n"
         "[route.leg.train]\nlearning_rate = 0.005\n";
}

TEST_F(RoutingTest, ABodyPartClassifierTrainedFirstRoutesStudiesToThePartChains) {
  write_shapes(folder_.path(), 120, 7);
  const auto pipeline = write("shapes.toml", bone_first_pipeline(folder_.path()));
  auto result = radpipe("train " + pipeline.string() + " --out " + path("run").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const char* file : {"best-part.pt", "best-hand.pt", "best-leg.pt", "history-part.csv", "history-hand.csv", "checkpoints/last/model-part.pt",
                           "checkpoints/last/model-leg.pt"})
    EXPECT_TRUE(fs::exists(path("run") / file)) << file;
  // Each chain keeps its own schedule: the leg chain's learning rate is its own.
  const auto meta = nlohmann::json::parse(read_text(path("run/checkpoints/last/meta.json")));
  EXPECT_DOUBLE_EQ(meta["chains"]["leg"]["learning_rate"].get<double>(), 0.005);
  EXPECT_DOUBLE_EQ(meta["chains"]["hand"]["learning_rate"].get<double>(), 0.01);
  EXPECT_EQ(meta["chains"]["part"]["classes"], (nlohmann::json{"hand", "leg"}));

  result = radpipe("predict " + pipeline.string() + " --checkpoint " + path("run/checkpoints/last").string() + " --split valid --out " +
                   path("out").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto rows = read_csv_rows(path("out/predictions.csv"));
  ASSERT_EQ(rows.size(), 24u);
  int routed_right = 0;
  for (const auto& row : rows) {
    if (row.at("routed_value") == row.at("body_part") && row.at("chain") == row.at("body_part")) ++routed_right;
    const double confidence = std::stod(row.at("route_confidence"));
    EXPECT_GE(confidence, 0.5);
    EXPECT_LE(confidence, 1.0);
  }
  EXPECT_GE(routed_right, 22) << "routing accuracy " << routed_right << "/24";

  // --selected scores each chain's selected weights (best-NAME.pt's), which the chains chose by
  // their own monitors and so possibly at different epochs; the last checkpoint carries them all.
  result = radpipe("predict " + pipeline.string() + " --checkpoint " + path("run/checkpoints/last").string() +
                   " --selected --split valid --out " + path("selected").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const std::string chain : {"part", "hand", "leg"}) {
    const fs::path carried = path("run/checkpoints/last") / ("model-" + chain + ".best.pt");
    EXPECT_NE(result.err.find("model chain '" + chain + "': weights from " + carried.string()), std::string::npos) << result.err;
    EXPECT_EQ(read_text(carried), read_text(path("run") / ("best-" + chain + ".pt"))) << chain;
  }
  result = radpipe("predict " + pipeline.string() + " --selected --out " + path("refused").string());
  EXPECT_EQ(result.exit_code, 2) << "--selected needs --checkpoint\n" << result.err;

  // A checkpoint without a chain's selected weights is refused by the chain's name, not scored with
  // the weights its epoch ended with.
  fs::copy(path("run/checkpoints/last"), path("stripped"), fs::copy_options::recursive);
  fs::remove(path("stripped") / "model-leg.best.pt");
  result = radpipe("predict " + pipeline.string() + " --checkpoint " + path("stripped").string() + " --selected --out " +
                   path("refused-stripped").string());
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.err.find("has no model-leg.best.pt for model chain 'leg' (the weights it selected)"), std::string::npos)
      << result.err;
  EXPECT_FALSE(fs::exists(path("refused-stripped") / "predictions.csv"));
}

TEST_F(RoutingTest, ARoutedTrainingRunResumesEveryChain) {
  write_shapes(folder_.path(), 60, 11);
  const auto pipeline = write("shapes.toml", bone_first_pipeline(folder_.path()));
  auto result = radpipe("train " + pipeline.string() + " --epochs 1 --out " + path("run").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const auto first = read_csv_rows(path("run/history-leg.csv"));
  ASSERT_EQ(first.size(), 1u);
  result = radpipe("train " + pipeline.string() + " --epochs 2 --resume --out " + path("run").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_NE(result.err.find("resuming after epoch 1"), std::string::npos) << result.err;
  for (const char* chain : {"part", "hand", "leg"}) {
    const auto history = read_csv_rows(path("run") / (std::string("history-") + chain + ".csv"));
    ASSERT_EQ(history.size(), 2u) << chain;
    EXPECT_EQ(history[0].at("epoch"), "1");
    EXPECT_EQ(history[1].at("epoch"), "2");
  }
  EXPECT_EQ(read_csv_rows(path("run/history-leg.csv"))[0].at("train_loss"), first[0].at("train_loss"));
  const auto meta = nlohmann::json::parse(read_text(path("run/checkpoints/last/meta.json")));
  EXPECT_EQ(meta["epoch"].get<int>(), 2);
  EXPECT_EQ(meta["chains"]["hand"]["history"].size(), 2u);

  // --route trains one chain and keeps the others' trained weights in the checkpoint.
  const std::string part_before = read_text(path("run/checkpoints/last/model-part.pt"));
  result = radpipe("train " + pipeline.string() + " --route leg --epochs 1 --out " + path("run").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(read_text(path("run/checkpoints/last/model-part.pt")).size(), part_before.size());
  result = radpipe("predict " + pipeline.string() + " --checkpoint " + path("run/checkpoints/last").string() + " --out " + path("out").string());
  ASSERT_EQ(result.exit_code, 0) << result.err;
}

} // namespace
