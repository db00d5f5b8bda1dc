// The studies' recipes in pipelines/ run for real: each passes `radpipe check` as shipped, and
// each trains one epoch and evaluates end to end on small data written here in the recipe's
// layout, shrunk through `--set`. `radpipe cv` runs and resumes on the standardized-CNN recipe;
// `--set` mistakes are reported at the override.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <radpipe/csv_rows.hpp>
#include <radpipe/testing.hpp>
#include <random>
#include <sstream>
#include <toml++/toml.h>

namespace fs = std::filesystem;
using radpipe::testing::CommandResult;
using radpipe::testing::read_text;
using radpipe::testing::run_command;
using radpipe::testing::TempFolder;

namespace {

const fs::path source_dir = RADPIPE_SOURCE_DIR;
const fs::path pipelines = source_dir / "pipelines";
const fs::path fracatlas_labels = fs::path(RADPIPE_SHARED_DIR) / "data" / "fracatlas" / "labels.csv";

CommandResult run_radpipe(const std::string& arguments) { return run_command(std::string(RADPIPE_EXECUTABLE) + " " + arguments); }

nlohmann::json read_json(const fs::path& file) { return nlohmann::json::parse(std::ifstream(file)); }

std::size_t count_lines(const fs::path& file) {
  std::ifstream stream(file);
  std::size_t lines = 0;
  for (std::string line; std::getline(stream, line);) ++lines;
  return lines;
}

// A 40x40 grey radiograph stand-in: noise, and for a positive a bright square somewhere.
void write_image(const fs::path& file, bool positive, std::mt19937& random) {
  fs::create_directories(file.parent_path());
  cv::Mat image(40, 40, CV_8UC1);
  cv::randn(image, 70, 20);
  if (positive) {
    std::uniform_int_distribution<int> corner(2, 26);
    image(cv::Rect(corner(random), corner(random), 12, 12)).setTo(230);
  }
  ASSERT_TRUE(cv::imwrite(file.string(), image)) << file;
}

// FracAtlas' layout (image, body_part, fractured, split) with a patient column: 16 patients of
// two images each, a hand and a leg, half of them fractured; patients 0..11 train, 12..15 valid.
fs::path write_fracatlas_layout(const fs::path& root) {
  std::mt19937 random(7);
  std::ofstream csv(root / "labels.csv");
  csv << "image,body_part,fractured,split,patient\n";
  for (int i = 0; i < 32; ++i) {
    const int patient = i / 2;
    const bool fractured = patient % 2 == 1;
    const std::string image = "images/IMG" + std::to_string(1000 + i) + ".png";
    write_image(root / image, fractured, random);
    csv << image << ',' << (i % 2 == 0 ? "hand" : "leg") << ',' << (fractured ? 1 : 0) << ',' << (patient < 12 ? "train" : "valid")
        << ",p" << patient << '\n';
  }
  return root / "labels.csv";
}

// The `--set` options that point a FracAtlas recipe at the generated data and shrink it.
std::string fracatlas_overrides(const fs::path& labels, int resize_step) {
  return " --set reader.file=" + labels.string() + " --set reader.patient_column=patient --set 'preprocess[" +
         std::to_string(resize_step) + "].size=[32,32]' --set train.epochs=1 --set train.batch_size=8 --set pipeline.batch_size=8"
         " --set pipeline.workers=1 --set evaluate.bootstrap_resamples=50";
}

} // namespace

TEST(Recipes, EachPassesCheckAsShipped) {
  const std::vector<fs::path> recipes{pipelines / "unified-vs-per-part" / "unified.toml", pipelines / "unified-vs-per-part" / "per-part.toml",
                                      pipelines / "standardized-cnn-kfold.toml", pipelines / "shoulder-cnn32.toml"};
  for (const auto& recipe : recipes) {
    const std::string text = read_text(recipe);
    ASSERT_NE(text.find("# Study:"), std::string::npos) << recipe << " names the study it follows";
    if (text.find("shared/data/fracatlas") != std::string::npos && !fs::exists(fracatlas_labels)) continue;
    CommandResult run = run_radpipe("check " + recipe.string());
    EXPECT_EQ(run.exit_code, 0) << recipe << "\n" << run.err;
  }
  // The other backbones of the unified-versus-per-part study are one override away.
  TempFolder data;
  const auto labels = write_fracatlas_layout(data.path());
  CommandResult densenet = run_radpipe("check " + (pipelines / "unified-vs-per-part" / "unified.toml").string() + " --set reader.file=" +
                                   labels.string() + " --set model.stage=densenet --set model.depth=121");
  EXPECT_EQ(densenet.exit_code, 0) << densenet.err;
  EXPECT_NE(densenet.out.find("1 chain: default (densenet)"), std::string::npos) << densenet.out;
}

TEST(Recipes, UnifiedTrainsAnEpochAndEvaluatesPerPatient) {
  TempFolder data;
  const auto labels = write_fracatlas_layout(data.path());
  const std::string recipe = (pipelines / "unified-vs-per-part" / "unified.toml").string();
  const std::string overrides = fracatlas_overrides(labels, 2);
  const fs::path run = data.path() / "run";
  CommandResult train = run_radpipe("train " + recipe + " --out " + run.string() + overrides);
  ASSERT_EQ(train.exit_code, 0) << train.err;
  EXPECT_EQ(count_lines(run / "history.csv"), 2u); // header and one epoch
  const auto meta = read_json(run / "checkpoints" / "last" / "meta.json");
  EXPECT_EQ(meta["overrides"].size(), 8u) << "the checkpoint records how the file was changed";

  const fs::path evaluation = data.path() / "evaluation";
  CommandResult evaluate = run_radpipe("evaluate " + recipe + " --checkpoint " + (run / "checkpoints" / "last").string() + " --out " +
                                   evaluation.string() + overrides);
  ASSERT_EQ(evaluate.exit_code, 0) << evaluate.err;
  const auto metrics = read_json(evaluation / "metrics.json");
  EXPECT_EQ(metrics["images"], 8);
  EXPECT_EQ(metrics["patients"], 4);
  ASSERT_TRUE(metrics["levels"].contains("patient")) << metrics["levels"].dump();
  const auto& patient = metrics["levels"]["patient"]["overall"];
  EXPECT_EQ(patient["cases"], 4);
  EXPECT_EQ(patient["positives"], 2);
  EXPECT_EQ(patient["confusion"]["true_positive"].get<int>() + patient["confusion"]["false_negative"].get<int>(), 2);
  EXPECT_EQ(patient["auroc_ci"].size(), 2u);
  // Each valid patient has one hand and one leg image: a patient's part is none of them.
  EXPECT_TRUE(metrics["levels"]["patient"]["parts"].empty());
  EXPECT_EQ(count_lines(evaluation / "patients.csv"), 5u);
  const std::string report = read_text(evaluation / "report.html");
  EXPECT_NE(report.find("patient level"), std::string::npos);
  EXPECT_NE(report.find("8 images in 8 studies of 4 patients"), std::string::npos);
  EXPECT_NE(evaluate.out.find("patient level, threshold"), std::string::npos) << evaluate.out;
}

TEST(Recipes, PerPartTrainsEveryChainForAnEpoch) {
  TempFolder data;
  const auto labels = write_fracatlas_layout(data.path());
  const std::string recipe = (pipelines / "unified-vs-per-part" / "per-part.toml").string();
  // Five ResNet-18s would write a gigabyte of checkpoints: small CNNs stand in, the routes stay.
  std::string overrides = fracatlas_overrides(labels, 2);
  const std::string small = "{stage = \"cnn\", blocks = 2, width = 4, input_channels = 3, dropout = 0.5}'";
  overrides += " --set 'model=" + small;
  for (const std::string part : {"hand", "leg", "hip", "shoulder"}) overrides += " --set 'route." + part + ".model=" + small;
  const fs::path run = data.path() / "run";
  CommandResult train = run_radpipe("train " + recipe + " --out " + run.string() + overrides);
  ASSERT_EQ(train.exit_code, 0) << train.err;
  for (const std::string file : {"model.pt", "model-hand.pt", "model-leg.pt", "model-hip.pt", "model-shoulder.pt"})
    EXPECT_TRUE(fs::exists(run / "checkpoints" / "last" / file)) << file;
  const fs::path evaluation = data.path() / "evaluation";
  CommandResult evaluate = run_radpipe("evaluate " + recipe + " --checkpoint " + (run / "checkpoints" / "last").string() + " --out " +
                                   evaluation.string() + overrides);
  ASSERT_EQ(evaluate.exit_code, 0) << evaluate.err;
  const auto metrics = read_json(evaluation / "metrics.json");
  EXPECT_EQ(metrics["levels"]["image"]["parts"].size(), 2u); // hand and leg
}

// The standardized-CNN recipe is a cross-validation: 2 folds of 16 patients, one epoch each,
// then a resume that finds the first fold done and redoes only what is missing.
TEST(Recipes, StandardizedCnnCrossValidatesByPatientAndResumes) {
  TempFolder data;
  const auto labels = write_fracatlas_layout(data.path());
  const std::string recipe = (pipelines / "standardized-cnn-kfold.toml").string();
  const std::string overrides = fracatlas_overrides(labels, 3) + " --set model.blocks=3 --set model.width=8";
  const fs::path out = data.path() / "cv";
  CommandResult cv = run_radpipe("cv " + recipe + " --k 2 --valid 0.25 --out " + out.string() + overrides);
  ASSERT_EQ(cv.exit_code, 0) << cv.err;

  // Every patient is held out in exactly one fold, with both of its images.
  std::map<std::string, std::set<std::string>> folds_of_patient;
  {
    std::ifstream csv(out / "folds.csv");
    std::string line;
    std::getline(csv, line);
    EXPECT_EQ(line, "id,image,patient,study,body_part,label,fold,role_fold1,role_fold2");
    std::size_t rows = 0;
    while (std::getline(csv, line)) {
      std::vector<std::string> fields;
      std::stringstream stream(line);
      for (std::string field; std::getline(stream, field, ',');) fields.push_back(field);
      ASSERT_EQ(fields.size(), 9u) << line;
      folds_of_patient[fields[2]].insert(fields[6]);
      EXPECT_EQ(fields[6] == "1" ? fields[7] : fields[8], "test") << line;
      ++rows;
    }
    EXPECT_EQ(rows, 32u);
  }
  EXPECT_EQ(folds_of_patient.size(), 16u);
  for (const auto& [patient, folds] : folds_of_patient) EXPECT_EQ(folds.size(), 1u) << patient;

  auto summary = read_json(out / "cv.json");
  ASSERT_EQ(summary["per_fold"].size(), 2u);
  std::size_t held_out_images = 0, held_out_patients = 0;
  for (const auto& fold : summary["per_fold"]) {
    held_out_images += fold["levels"]["image"]["cases"].get<std::size_t>();
    held_out_patients += fold["levels"]["patient"]["cases"].get<std::size_t>();
  }
  EXPECT_EQ(held_out_images, 32u);
  EXPECT_EQ(held_out_patients, 16u);
  for (const std::string level : {"study", "patient", "image"}) {
    ASSERT_TRUE(summary["mean_sd"].contains(level)) << level;
    EXPECT_EQ(summary["mean_sd"][level]["accuracy"]["folds"], 2) << level;
    EXPECT_EQ(summary["pooled"][level]["overall"]["cases"], level == "patient" ? 16 : 32) << level;
  }
  EXPECT_EQ(summary["pooled"]["image"]["parts"].size(), 2u);
  EXPECT_EQ(summary["pooled"]["image"]["parts"]["hand"]["auroc_ci"].size(), 2u);
  EXPECT_EQ(count_lines(out / "oof-predictions.csv"), 1u + 32 + 32 + 16);
  const std::string report = read_text(out / "report.html");
  EXPECT_NE(report.find("mean &plusmn; sd"), std::string::npos);
  EXPECT_NE(report.find("Pooled out-of-fold metrics"), std::string::npos);
  EXPECT_TRUE(fs::exists(out / "fold-2" / "evaluation" / "report.html"));
  EXPECT_NE(cv.out.find("pooled out-of-fold AUROC"), std::string::npos) << cv.out;

  // A second run without --resume refuses to mix two cross-validations.
  CommandResult again = run_radpipe("cv " + recipe + " --k 2 --out " + out.string() + overrides);
  EXPECT_EQ(again.exit_code, 2) << again.err;
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;

  // As if the run had died after training fold 2: only its evaluation is redone.
  fs::remove(out / "fold-2" / "oof.json");
  fs::remove_all(out / "fold-2" / "evaluation");
  fs::remove(out / "cv.json");
  CommandResult resumed = run_radpipe("cv " + recipe + " --k 2 --valid 0.25 --resume --out " + out.string() + overrides);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("fold 1/2: done before"), std::string::npos) << resumed.err;
  EXPECT_EQ(resumed.err.find("fold 2/2: training"), std::string::npos) << resumed.err;
  const auto resumed_summary = read_json(out / "cv.json");
  EXPECT_EQ(resumed_summary["pooled"], summary["pooled"]) << "the same checkpoints score the same";
}

// [train] select names the weights that cv scores, as it names those of best.pt: the epoch of the
// best monitored value, or the last. cv scores the last checkpoint's selected weights, which are
// best.pt's bytes. The monitor must prefer an earlier epoch in some fold, or the two could not be
// told apart.
TEST(Recipes, CrossValidationScoresTheEpochThatSelectNames) {
  TempFolder data;
  const auto labels = write_fracatlas_layout(data.path());
  const std::string recipe = (pipelines / "standardized-cnn-kfold.toml").string();
  const std::string overrides = fracatlas_overrides(labels, 3) +
                                " --set model.blocks=3 --set model.width=8 --set train.epochs=4 --set train.keep_best=2";
  for (const std::string select : {"best", "last"}) {
    const fs::path out = data.path() / ("cv-" + select);
    CommandResult cv = run_radpipe("cv " + recipe + " --k 2 --valid 0.25 --out " + out.string() + overrides +
                                   " --set train.select=" + select);
    ASSERT_EQ(cv.exit_code, 0) << cv.err;
    std::size_t folds_preferring_an_earlier_epoch = 0;
    for (const std::string fold : {"fold-1", "fold-2"}) {
      const fs::path checkpoints = out / fold / "train" / "checkpoints";
      const auto meta = read_json(checkpoints / "last" / "meta.json");
      ASSERT_EQ(meta["epoch"], 4) << fold;
      const bool earlier = meta["best"][0]["epoch"] != meta["epoch"];
      folds_preferring_an_earlier_epoch += earlier ? 1 : 0;
      const auto metrics = read_json(out / fold / "evaluation" / "metrics.json");
      EXPECT_EQ(fs::path(metrics["checkpoint"].get<std::string>()), checkpoints / "last") << select << ", " << fold;
      EXPECT_EQ(metrics["selected_weights"], true);
      ASSERT_EQ(metrics["weights"]["default"].size(), 1u) << metrics.dump();
      const std::string scored = read_text(metrics["weights"]["default"][0].get<std::string>());
      EXPECT_EQ(scored, read_text(out / fold / "train" / "best.pt")) << select << ", " << fold;
      const fs::path selected_folder =
          select == "best" && earlier ? checkpoints / meta["best"][0]["folder"].get<std::string>() : checkpoints / "last";
      EXPECT_EQ(scored, read_text(selected_folder / "model.pt")) << "the weights of the selected epoch: " << select << ", " << fold;
      if (select == "best" && earlier) {
        EXPECT_NE(scored, read_text(checkpoints / "last" / "model.pt")) << "not those the last epoch ended with: " << fold;
      }
    }
    EXPECT_GT(folds_preferring_an_earlier_epoch, 0u) << "every fold's best epoch was its last";
  }
}

// `radpipe cv --members 2` on a finished cross-validation trains only each fold's second model
// (the next seed), and every held-out image is then scored by the mean of the two models'
// probabilities: each member's own `radpipe predict` gives the two halves.
TEST(Recipes, CrossValidationGrowsIntoASeedEnsembleOnResume) {
  TempFolder data;
  const auto labels = write_fracatlas_layout(data.path());
  const std::string recipe = (pipelines / "standardized-cnn-kfold.toml").string();
  const std::string overrides = fracatlas_overrides(labels, 3) + " --set model.blocks=3 --set model.width=8";
  const fs::path out = data.path() / "cv";
  const std::string command = "cv " + recipe + " --k 2 --valid 0.25 --out " + out.string() + overrides;
  CommandResult single = run_radpipe(command);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  EXPECT_EQ(read_json(out / "cv.json")["members"], 1);
  EXPECT_FALSE(fs::exists(out / "fold-1" / "train-2"));

  CommandResult grown = run_radpipe(command + " --resume --members 2");
  ASSERT_EQ(grown.exit_code, 0) << grown.err;
  for (int fold = 1; fold <= 2; ++fold) {
    const std::string prefix = "fold " + std::to_string(fold) + "/2: ";
    EXPECT_NE(grown.err.find(prefix + "scored by 1 model before; now by 2"), std::string::npos) << grown.err;
    EXPECT_NE(grown.err.find(prefix + "training member 2/2"), std::string::npos) << grown.err;
    EXPECT_EQ(grown.err.find(prefix + "training member 1/2"), std::string::npos) << "the first model is kept\n" << grown.err;
  }
  const auto summary = read_json(out / "cv.json");
  EXPECT_EQ(summary["members"], 2);
  EXPECT_NE(read_text(out / "report.html").find("by the mean of 2 models"), std::string::npos);

  // The second member trained with the next seed.
  const auto first_seed = read_json(out / "fold-1" / "train" / "checkpoints" / "last" / "meta.json")["seed"].get<std::int64_t>();
  EXPECT_EQ(first_seed, summary["seed"].get<std::int64_t>()) << "the folds' seed is the pipeline's, as the first member's";
  EXPECT_EQ(read_json(out / "fold-1" / "train-2" / "checkpoints" / "last" / "meta.json")["seed"], first_seed + 1);

  for (int fold = 1; fold <= 2; ++fold) {
    const fs::path folder = out / ("fold-" + std::to_string(fold));
    const auto metrics = read_json(folder / "evaluation" / "metrics.json");
    ASSERT_EQ(metrics["member_checkpoints"].size(), 1u);
    std::vector<std::map<std::string, double>> member_probabilities;
    for (const std::string& checkpoint : {metrics["checkpoint"].get<std::string>(), metrics["member_checkpoints"][0].get<std::string>()}) {
      const fs::path predicted = folder / ("predict-" + std::to_string(member_probabilities.size()));
      CommandResult predict =
          run_radpipe("predict " + recipe + " --checkpoint " + checkpoint + " --selected --out " + predicted.string() + overrides);
      ASSERT_EQ(predict.exit_code, 0) << predict.err;
      std::map<std::string, double> by_id;
      for (const auto& row : radpipe::testing::read_csv_rows(predicted / "predictions.csv")) by_id[row.at("id")] = std::stod(row.at("probability"));
      member_probabilities.push_back(std::move(by_id));
    }
    double largest_disagreement = 0.0; // the members differ, so that their mean is not either one
    for (const auto& [id, probability] : member_probabilities[0])
      largest_disagreement = std::max(largest_disagreement, std::abs(probability - member_probabilities[1][id]));
    EXPECT_GT(largest_disagreement, 1e-3) << folder;
    std::size_t held_out = 0;
    for (const auto& row : radpipe::testing::read_csv_rows(folder / "evaluation" / "predictions.csv")) {
      const std::string& id = row.at("id");
      ASSERT_TRUE(member_probabilities[0].count(id) && member_probabilities[1].count(id)) << id;
      EXPECT_NEAR(std::stod(row.at("probability")), (member_probabilities[0][id] + member_probabilities[1][id]) / 2, 2e-6) << id;
      ++held_out;
    }
    EXPECT_EQ(held_out, 16u) << folder;
  }
}

// Class folders, split by the reader; AdaGrad by step count with a step-based rate drop; then one
// verdict over a study folder.
TEST(Recipes, ShoulderTrainsFromClassFoldersByStepsAndPredictsAStudyFolder) {
  TempFolder data;
  std::mt19937 random(3);
  for (int i = 0; i < 12; ++i) {
    write_image(data.path() / "classes" / "fractured" / ("f" + std::to_string(i) + ".png"), true, random);
    write_image(data.path() / "classes" / "normal" / ("n" + std::to_string(i) + ".png"), false, random);
  }
  for (int i = 0; i < 3; ++i) write_image(data.path() / "study" / ("view" + std::to_string(i) + ".png"), i == 1, random);
  const std::string recipe = (pipelines / "shoulder-cnn32.toml").string();
  const std::string overrides = " --set reader.root=" + (data.path() / "classes").string() +
                                " --set train.steps=7 --set train.step_size=3 --set train.batch_size=4 --set pipeline.batch_size=4 --set pipeline.workers=1";
  const fs::path run = data.path() / "run";
  CommandResult train = run_radpipe("train " + recipe + " --out " + run.string() + overrides);
  ASSERT_EQ(train.exit_code, 0) << train.err;
  // 25% of 12 per class is valid: 18 training images, 5 batches of 4 per epoch, so 7 steps take
  // a second epoch that stops after 2 batches; the rate drops after steps 3 and 6.
  EXPECT_EQ(count_lines(run / "history.csv"), 3u);
  EXPECT_EQ(read_json(run / "checkpoints" / "last" / "meta.json")["chains"]["default"]["steps"], 7);
  EXPECT_NE(train.err.find("0.01 -> 0.001 after step 3"), std::string::npos) << train.err;
  EXPECT_NE(train.err.find("0.001 -> 0.0001 after step 6"), std::string::npos) << train.err;
  EXPECT_NE(train.err.find("on 18 images, validating on 6"), std::string::npos) << train.err;

  const fs::path checkpoint = run / "checkpoints" / "last";
  CommandResult evaluate = run_radpipe("evaluate " + recipe + " --checkpoint " + checkpoint.string() + " --out " +
                                   (data.path() / "evaluation").string() + overrides);
  ASSERT_EQ(evaluate.exit_code, 0) << evaluate.err;
  EXPECT_EQ(read_json(data.path() / "evaluation" / "metrics.json")["images"], 6);

  CommandResult predict = run_radpipe("predict " + recipe + " --checkpoint " + checkpoint.string() + " --out " +
                                  (data.path() / "prediction").string() + " --set 'reader={stage = \"study_folder\", folder = \"" +
                                  (data.path() / "study").string() + "\"}'");
  ASSERT_EQ(predict.exit_code, 0) << predict.err;
  EXPECT_EQ(count_lines(data.path() / "prediction" / "studies.csv"), 2u); // header and the one study
}

// The stronger model ships with the pipeline that scores it, and every tensor of both of its
// ensemble's weights files must fit the network that pipeline declares: a width changed in the recipe
// and not there loads only the tensors whose shapes still match, warns, and scores at chance. The 20
// bundled radiographs are too few for its figures to mean anything; the valid split's are in
// docs/recipes.md.
TEST(Recipes, TheStrongerModelLoadsInItsEvaluatePipeline) {
  TempFolder out;
  const std::string recipe = (pipelines / "fracatlas-strong-evaluate.toml").string();
  CommandResult evaluate =
      run_radpipe("evaluate " + recipe + " --out " + (out.path() / "evaluation").string() +
                  " --set reader.file=" + (source_dir / "samples" / "fracatlas" / "labels.csv").string() +
                  " --set evaluate.bootstrap_resamples=50 --set pipeline.workers=1");
  ASSERT_EQ(evaluate.exit_code, 0) << evaluate.err;
  EXPECT_EQ(evaluate.err.find(" tensors; "), std::string::npos) << "a partial load:\n" << evaluate.err;
  EXPECT_NE(evaluate.err.find("ensemble of 2, probability average"), std::string::npos) << evaluate.err;
  const auto metrics = read_json(out.path() / "evaluation" / "metrics.json");
  EXPECT_EQ(metrics["images"], 20);
  const auto& image = metrics["levels"]["image"]["overall"];
  EXPECT_EQ(image["positives"], 10);
  if (fs::exists(fracatlas_labels)) {
    CommandResult check = run_radpipe("check " + (pipelines / "fracatlas-strong.toml").string());
    EXPECT_EQ(check.exit_code, 0) << check.err;
  }
}

// The weights see at evaluation what they saw in training: the evaluate pipeline's preprocessing is
// the recipe's without its random (training-only) steps. A step added to one file and not the other
// (CLAHE, a size) loads without a warning and only scores worse.
TEST(Recipes, TheStrongerModelIsEvaluatedWithTheRecipesPreprocessing) {
  auto deterministic_steps = [](const fs::path& file) {
    const toml::table pipeline = toml::parse_file(file.string());
    std::vector<toml::table> steps;
    for (const auto& step : *pipeline["preprocess"].as_array()) {
      const toml::table& table = *step.as_table();
      if (!table["stage"].value_or(std::string{}).starts_with("random_")) steps.push_back(table);
    }
    return steps;
  };
  const auto trained = deterministic_steps(pipelines / "fracatlas-strong.toml");
  const auto evaluated = deterministic_steps(pipelines / "fracatlas-strong-evaluate.toml");
  ASSERT_EQ(evaluated.size(), trained.size());
  for (std::size_t index = 0; index < trained.size(); ++index)
    EXPECT_TRUE(evaluated[index] == trained[index]) << "step " << index + 1 << ": " << evaluated[index] << " against " << trained[index];
}

TEST(Recipes, OverrideMistakesAreReportedAtTheOverride) {
  const std::string recipe = (pipelines / "shoulder-cnn32.toml").string();
  CommandResult run = run_radpipe("check --set train.steps=-1 --set train.optimiser=sgd " + recipe + " --set 'preprocess[9].stage=x'");
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("--set train.steps=-1: error: key 'steps' in [train]: "), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("(the override replaced the value at " + recipe + ":"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("--set train.optimiser=sgd: error: unknown key 'optimiser' in [train]; did you mean 'optimizer'?"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("--set preprocess[9].stage=x: error: preprocess[9]: the pipeline has 5 [[preprocess]] tables"),
            std::string::npos)
      << run.err;
  EXPECT_NE(run.err.find("3 problems found"), std::string::npos) << run.err;
}

// A model with k = 3 outputs (untrained: the figures do not matter, their bookkeeping does): the
// evaluation reports per-class results and a 3 x 3 confusion matrix of the chain's classes (the
// class folders, its target field), and no binary levels.
TEST(Evaluate, MulticlassModelsGetPerClassResultsAndAConfusionMatrix) {
  TempFolder data;
  std::mt19937 random(5);
  for (const std::string name : {"hand", "hip", "leg"})
    for (int i = 0; i < 4; ++i) write_image(data.path() / "parts" / name / (name + std::to_string(i) + ".png"), i % 2 == 0, random);
  std::ofstream(data.path() / "p.toml") << "[pipeline]\nname = \"parts\"\nworkers = 1\n[reader]\nstage = \"class_folders\"\nroot = \""
                                        << (data.path() / "parts").string()
                                        << "\"\n[[preprocess]]\nstage = \"resize\"\nsize = [32, 32]\n[[preprocess]]\nstage = \"normalize\"\n"
                                           "preset = \"none\"\n[model]\nstage = \"cnn\"\nblocks = 2\nwidth = 4\ninput_channels = 1\n"
                                           "outputs = 3\nclasses = [\"hand\", \"hip\", \"leg\"]\ntarget = \"class\"\n[aggregate]\nstage = \"mean\"\n"
                                           "[evaluate]\nsplit = \"\"\n";
  CommandResult run = run_radpipe("evaluate " + (data.path() / "p.toml").string() + " --out " + (data.path() / "out").string());
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const auto metrics = read_json(data.path() / "out" / "metrics.json");
  EXPECT_TRUE(metrics["levels"].empty()) << "abnormal-against-normal levels mean nothing for 3 classes";
  const auto& image = metrics["multiclass"]["default"]["image"];
  EXPECT_EQ(image["cases"], 12);
  ASSERT_EQ(image["classes"].size(), 3u);
  EXPECT_EQ(image["classes"][1]["name"], "hip");
  EXPECT_EQ(image["classes"][1]["support"], 4);
  std::size_t total = 0, called = 0;
  for (const auto& row : image["confusion"]) {
    ASSERT_EQ(row.size(), 3u);
    for (const auto& cell : row) total += cell.get<std::size_t>();
  }
  for (const auto& item : image["classes"]) called += item["predicted"].get<std::size_t>();
  EXPECT_EQ(total, 12u);
  EXPECT_EQ(called, 12u);
  EXPECT_TRUE(image.contains("macro_f1"));
  EXPECT_EQ(metrics["multiclass"]["default"]["study"]["cases"], 12);
  EXPECT_NE(read_text(data.path() / "out" / "report.html").find("true class (rows) against predicted class (columns)"), std::string::npos);
  EXPECT_NE(run.out.find("chain 'default', image level, 3 classes, 12 cases"), std::string::npos) << run.out;
}
