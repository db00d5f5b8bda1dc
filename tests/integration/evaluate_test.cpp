// `radpipe evaluate` and `radpipe compare` run for real: the demo model on the bundled samples,
// once as shipped (FracAtlas: every image its own study) and once read as MURA studies of two
// images each, with a training history beside the weights. The report is opened in Chromium.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <radpipe/csv_rows.hpp>
#include <radpipe/testing.hpp>
#include <regex>
#include <set>
#include <sstream>

namespace fs = std::filesystem;
using radpipe::testing::CommandResult;
using radpipe::testing::read_text;
using radpipe::testing::run_command;
using radpipe::testing::read_csv_rows;

namespace {

const fs::path source_dir = RADPIPE_SOURCE_DIR;
const fs::path samples = source_dir / "samples" / "fracatlas";

CommandResult run_radpipe(const std::string& arguments) {
  return run_command(std::string(RADPIPE_EXECUTABLE) + " " + arguments);
}



// AUROC by counting pairs, written again here so that the binary's figure is checked against an
// independent count: a positive scored above a negative wins 1, a tie 1/2.
double auroc_by_pairs(const std::vector<double>& scores, const std::vector<int>& labels) {
  double wins = 0, pairs = 0;
  for (std::size_t i = 0; i < scores.size(); ++i)
    for (std::size_t j = 0; j < scores.size(); ++j)
      if (labels[i] == 1 && labels[j] == 0) {
        pairs += 1;
        wins += scores[i] > scores[j] ? 1.0 : scores[i] == scores[j] ? 0.5 : 0.0;
      }
  return wins / pairs;
}

bool chromium_installed() {
  return run_command("command -v chromium").exit_code == 0;
}

// Opens `report` in headless Chromium and returns the DOM after the page's load event, which is
// when the report's own script has counted the images that did not load.
std::string rendered_dom(const fs::path& report, const fs::path& profile) {
  const std::string command =
      "chromium --headless --no-sandbox --disable-gpu --disable-background-networking "
      "--disable-component-update --disable-sync --no-first-run --user-data-dir=" +
      profile.string() + " --virtual-time-budget=10000 --dump-dom file://" + report.string();
  return run_command(command).out;
}

class Evaluate : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    folder_ = new radpipe::testing::TempFolder();
    const fs::path root = folder_->path();
    demo_run_ = root / "demo";
    demo_result_ =
        run_radpipe("evaluate " + (source_dir / "pipelines" / "demo.toml").string() + " --out " +
                    demo_run_.string() + " --reference " RADPIPE_SHARED_DIR "/reference/mura-kappa.csv");

    // The same 20 images as MURA studies: consecutive pairs (which share body part and label) form
    // one study, named the way MURA names study folders.
    std::ostringstream labels;
    labels << "image,body_part,label,study,split\n";
    const auto sample_rows = read_csv_rows(samples / "labels.csv");
    for (std::size_t i = 0; i < sample_rows.size(); ++i) {
      const auto& row = sample_rows[i];
      std::string type = row.at("body_part");
      std::transform(type.begin(), type.end(), type.begin(), ::toupper);
      const std::string study = "MURA-v1.1/valid/XR_" + type + "/patient" + std::to_string(11000 + i / 2) +
                                "/study1_" + (row.at("fractured") == "1" ? "positive" : "negative") + "/";
      labels << row.at("image") << ',' << row.at("body_part") << ',' << row.at("fractured") << ',' << study
             << ",valid\n";
    }
    folder_->write("mura/labels.csv", labels.str());
    // A training history beside the weights, in the columns `radpipe train` writes.
    fs::create_directories(root / "model");
    fs::copy_file(source_dir / "samples" / "models" / "fracatlas-cnn5.pt",
                  root / "model" / "fracatlas-cnn5.pt");
    folder_->write(
        "model/history.csv",
        "epoch,learning_rate,train_loss,val_loss,val_auroc,val_kappa,val_accuracy,seconds,images_per_second\n"
        "1,0.001,0.69,0.68,0.60,0.10,0.55,10,100\n2,0.001,0.62,0.63,0.68,0.22,0.62,10,100\n"
        "3,0.0003,0.55,0.60,0.72,0.30,0.66,10,100\n");
    std::string pipeline = read_text(source_dir / "pipelines" / "demo.toml");
    pipeline =
        std::regex_replace(pipeline, std::regex(R"(file = "[^"]*")"),
                           "file = \"" + (root / "mura" / "labels.csv").string() + "\"\nimage_root = \"" +
                               samples.string() + "\"\nstudy_column = \"study\"");
    pipeline =
        std::regex_replace(pipeline, std::regex(R"(label_column = "fractured")"), "label_column = \"label\"");
    pipeline = std::regex_replace(pipeline, std::regex(R"(weights = "[^"]*")"),
                                  "weights = \"" + (root / "model" / "fracatlas-cnn5.pt").string() + "\"");
    pipeline += "\n[evaluate]\nthreshold_method = \"youden\"\nbootstrap_resamples = 500\nseed = 3\nexplain_per_group = 1\n";
    folder_->write("mura/pipeline.toml", pipeline);
    mura_run_ = root / "mura-run";
    mura_result_ = run_radpipe("evaluate " + (root / "mura" / "pipeline.toml").string() + " --out " +
                               mura_run_.string());
  }
  static void TearDownTestSuite() {
    delete folder_;
    folder_ = nullptr;
  }

  static inline radpipe::testing::TempFolder* folder_ = nullptr;
  static inline fs::path demo_run_, mura_run_;
  static inline CommandResult demo_result_, mura_result_;
};

} // namespace

TEST_F(Evaluate, WritesMetricsThatMatchItsPredictions) {
  ASSERT_EQ(demo_result_.exit_code, 0) << demo_result_.err;
  const auto metrics = nlohmann::json::parse(read_text(demo_run_ / "metrics.json"));
  EXPECT_EQ(metrics["split"], "valid") << "the [evaluate] split default";
  EXPECT_EQ(metrics["images"], 20);
  EXPECT_EQ(metrics["threshold"]["method"], "fixed");
  EXPECT_EQ(metrics["bootstrap"]["resamples"], 2000);

  const auto predictions = read_csv_rows(demo_run_ / "predictions.csv");
  ASSERT_EQ(predictions.size(), 20u);
  std::vector<double> scores;
  std::vector<int> labels;
  int correct = 0;
  for (const auto& row : predictions) {
    scores.push_back(std::stod(row.at("probability")));
    labels.push_back(std::stoi(row.at("label")));
    EXPECT_EQ(row.at("predicted"), scores.back() >= 0.5 ? "1" : "0") << "the demo's [aggregate] threshold";
    correct += row.at("predicted") == row.at("label");
  }
  const auto& image = metrics["levels"]["image"]["overall"];
  EXPECT_EQ(image["cases"], 20);
  EXPECT_EQ(image["positives"], 10) << "samples/fracatlas has 10 fractured images";
  EXPECT_DOUBLE_EQ(image["accuracy"].get<double>(), correct / 20.0);
  // predictions.csv rounds probabilities to 6 decimals; a pair closer than that could flip.
  EXPECT_NEAR(image["auroc"].get<double>(), auroc_by_pairs(scores, labels), 1e-9);
  const auto& confusion = image["confusion"];
  EXPECT_EQ(confusion["true_positive"].get<int>() + confusion["false_negative"].get<int>(), 10);
  EXPECT_EQ(confusion["true_positive"].get<int>() + confusion["true_negative"].get<int>(), correct);
  const double low = image["auroc_ci"][0], high = image["auroc_ci"][1];
  EXPECT_LE(low, image["auroc"].get<double>());
  EXPECT_GE(high, image["auroc"].get<double>());
  EXPECT_GT(high - low, 0.05) << "20 images leave a wide interval";

  // FracAtlas images are their own studies, so the study level repeats the image level.
  EXPECT_EQ(metrics["levels"]["study"]["overall"]["auroc"], image["auroc"]);
  const auto& parts = metrics["levels"]["study"]["parts"];
  EXPECT_EQ(parts.size(), 5u);
  for (const std::string part : {"hand", "hip", "leg", "mixed", "shoulder"}) {
    ASSERT_TRUE(parts.contains(part)) << part;
    EXPECT_EQ(parts[part]["cases"], 4) << part;
  }
  // hand and shoulder are MURA study types: the reference comparison lists them and overall.
  std::set<std::string> compared;
  for (const auto& row : metrics["reference"]["study_types"])
    compared.insert(row["study_type"].get<std::string>());
  EXPECT_EQ(compared, (std::set<std::string>{"hand", "shoulder", "overall"}));
  EXPECT_FALSE(fs::exists(demo_run_ / "mura-submission.csv")) << "FracAtlas ids are no MURA study paths";
  EXPECT_NE(demo_result_.out.find("overall"), std::string::npos) << "a summary table on stdout";
}

TEST_F(Evaluate, AggregatesMuraStudiesAndWritesTheirSubmissionFile) {
  ASSERT_EQ(mura_result_.exit_code, 0) << mura_result_.err;
  std::map<std::string, std::vector<double>> image_scores;
  for (const auto& row : read_csv_rows(mura_run_ / "predictions.csv"))
    image_scores[row.at("study_id")].push_back(std::stod(row.at("probability")));
  const auto studies = read_csv_rows(mura_run_ / "studies.csv");
  ASSERT_EQ(studies.size(), 10u);
  const auto metrics = nlohmann::json::parse(read_text(mura_run_ / "metrics.json"));
  const double threshold = metrics["levels"]["study"]["threshold"];
  std::vector<double> scores;
  std::vector<int> labels;
  for (const auto& study : studies) {
    const auto& images = image_scores[study.at("study_id")];
    ASSERT_EQ(images.size(), 2u) << study.at("study_id");
    EXPECT_NEAR(std::stod(study.at("probability")), (images[0] + images[1]) / 2, 2e-6)
        << "the mean aggregator";
    EXPECT_EQ(study.at("label"), study.at("study_id").find("positive") != std::string::npos ? "1" : "0");
    scores.push_back(std::stod(study.at("probability")));
    labels.push_back(std::stoi(study.at("label")));
  }
  // Youden's threshold maximises sensitivity + specificity - 1 over the study scores: recount J at
  // every score (5 abnormal and 5 normal studies) and check that none beats the verdicts' J.
  auto youden_j = [&](const std::vector<int>& predicted) {
    double tp = 0, tn = 0;
    for (std::size_t i = 0; i < labels.size(); ++i) (labels[i] == 1 ? tp : tn) += predicted[i] == labels[i];
    return tp / 5 + tn / 5 - 1;
  };
  double best = -1;
  for (double candidate : scores) {
    std::vector<int> predicted;
    for (double score : scores) predicted.push_back(score >= candidate ? 1 : 0);
    best = std::max(best, youden_j(predicted));
  }
  std::vector<int> verdicts;
  for (const auto& study : studies) verdicts.push_back(std::stoi(study.at("predicted")));
  EXPECT_NEAR(youden_j(verdicts), best, 1e-12) << "threshold " << threshold;
  EXPECT_GT(threshold, 0.0);
  EXPECT_EQ(metrics["threshold"]["method"], "youden");
  EXPECT_EQ(metrics["bootstrap"]["seed"], 3);

  // MURA's submission format: "study path,label", one row per study, no header, the study verdicts.
  std::ifstream submission(mura_run_ / "mura-submission.csv");
  std::size_t row = 0;
  for (std::string line; std::getline(submission, line); ++row) {
    ASSERT_LT(row, studies.size());
    EXPECT_EQ(line, studies[row].at("study_id") + "," + studies[row].at("predicted"));
  }
  EXPECT_EQ(row, 10u);
  EXPECT_EQ(metrics["levels"]["study"]["parts"].size(), 5u);
  EXPECT_TRUE(fs::exists(mura_run_ / "training-curves.png")) << "history.csv beside the weights is plotted";
}

TEST_F(Evaluate, ReportShowsEveryFigureInABrowser) {
  ASSERT_EQ(demo_result_.exit_code, 0) << demo_result_.err;
  ASSERT_EQ(mura_result_.exit_code, 0) << mura_result_.err;
  std::size_t mura_images = 0, mura_explanations = 0;
  for (const fs::path& run : {demo_run_, mura_run_}) {
    const std::string html = read_text(run / "report.html");
    const std::regex image_tag(R"re(<img src="([^"]+)")re");
    std::size_t images = 0, explanations = 0;
    for (auto match = std::sregex_iterator(html.begin(), html.end(), image_tag);
         match != std::sregex_iterator(); ++match) {
      ++images;
      if ((*match)[1].str().rfind("explanations/", 0) == 0) ++explanations;
      EXPECT_TRUE(fs::is_regular_file(run / (*match)[1].str())) << (*match)[1].str() << " beside the report";
    }
    EXPECT_GE(images - explanations, 3u) << "ROC curves of both levels and the per-part chart";
    // The demo pipeline has an [explain] stage: the report explains its most confident calls.
    EXPECT_GE(explanations, 1u) << "Grad-CAM figures of the [explain] stage";
    EXPECT_NE(html.find("true positive: "), std::string::npos) << "a trained model calls some fractures right";
    EXPECT_NE(html.find("<table class=confusion>"), std::string::npos);
    if (run == demo_run_) {
      EXPECT_NE(html.find("radiologist_1"), std::string::npos) << "the reference table";
    }
    if (run == mura_run_) {
      mura_images = images;
      mura_explanations = explanations;
    }
  }
  EXPECT_EQ(mura_images - mura_explanations, 4u) << "two ROC curves, the per-part chart and the training curves";
  EXPECT_LE(mura_explanations, 3u) << "explain_per_group = 1: one each of TP, FP and FN at most";

  // Chromium takes seconds to start, so it opens the report with every kind of figure.
  if (!chromium_installed())
    GTEST_SKIP() << "chromium is not installed (scripts/setup-debian.sh installs it): the report was checked "
                    "as text only, "
                    "not rendered";
  const std::string dom = rendered_dom(mura_run_ / "report.html", folder_->path() / "chromium-profile");
  EXPECT_NE(dom.find("data-images=\"" + std::to_string(mura_images) + "\""), std::string::npos)
      << "the page's own check ran: " << dom.substr(0, 400);
  EXPECT_NE(dom.find("data-broken-images=\"0\""), std::string::npos) << "every image loaded";
}

TEST_F(Evaluate, CompareShowsDeltasAndIntervalOverlap) {
  ASSERT_EQ(demo_result_.exit_code, 0) << demo_result_.err;
  ASSERT_EQ(mura_result_.exit_code, 0) << mura_result_.err;
  // Same model, same images: image-level AUROC does not depend on the threshold or the study
  // grouping, so it is equal, its delta zero and the intervals overlap.
  CommandResult run = run_radpipe("compare " + demo_run_.string() + " " +
                                  (mura_run_ / "metrics.json").string() + " --level image");
  ASSERT_EQ(run.exit_code, 0) << run.err;
  std::smatch match;
  ASSERT_TRUE(std::regex_search(run.out, match,
                                std::regex(R"(\noverall +20 +20 +([0-9.]+) +([0-9.]+) +(\S+) +(\S+))")))
      << run.out;
  EXPECT_EQ(match[1], match[2]);
  EXPECT_EQ(match[3], "+0.000");
  EXPECT_EQ(match[4], "overlap");
  for (const std::string part : {"hand", "hip", "leg", "mixed", "shoulder"})
    EXPECT_NE(run.out.find("\n" + part + " "), std::string::npos) << part;

  EXPECT_EQ(run_radpipe("compare " + demo_run_.string() + " /nonexistent").exit_code, 4);
}

TEST_F(Evaluate, CheckValidatesTheEvaluateTableWithLineAndColumn) {
  // The demo with its relative paths made absolute, and two mistakes in an [evaluate] table.
  std::string text =
      std::regex_replace(read_text(source_dir / "pipelines" / "demo.toml"), std::regex(R"("\.\./)"),
                         "\"" + (source_dir / "pipelines").string() + "/../");
  text += "\n[evaluate]\nthreshold_method = \"yuden\"\nbootstrap_resample = 10\n";
  const fs::path file = folder_->write("bad-evaluate.toml", text);
  const int lines = static_cast<int>(std::count(text.begin(), text.end(), '\n'));
  CommandResult run = run_radpipe("check " + file.string());
  EXPECT_EQ(run.exit_code, 1);
  // The two lines appended last: threshold_method's value starts at column 20, the unknown key at 1.
  EXPECT_NE(run.err.find(file.string() + ":" + std::to_string(lines - 1) +
                         ":20: error: key 'threshold_method' in [evaluate]"),
            std::string::npos)
      << run.err;
  EXPECT_NE(
      run.err.find(
          file.string() + ":" + std::to_string(lines) +
          ":1: error: unknown key 'bootstrap_resample' in [evaluate]; did you mean 'bootstrap_resamples'?"),
      std::string::npos)
      << run.err;

  CommandResult inspect = run_radpipe("inspect '[evaluate]'");
  ASSERT_EQ(inspect.exit_code, 0) << inspect.err;
  for (const std::string key :
       {"threshold_method", "target_sensitivity", "bootstrap_resamples", "seed", "reference"})
    EXPECT_NE(inspect.out.find(key), std::string::npos) << key;
  for (const std::string command : {"evaluate", "compare"})
    EXPECT_EQ(run_radpipe(command + " --help").exit_code, 0) << command;
}
