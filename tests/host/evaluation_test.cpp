// Evaluation numbers against values worked out by hand; each derivation is written beside its test.
#include "report/evaluation.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "runtime/inference.hpp"
#include "report/metrics.hpp"

using namespace radpipe::host;
using radpipe::ImagePrediction;

namespace {

// Positives score 0.9 0.7 0.7 0.3, negatives 0.7 0.5 0.3 0.1: ties inside and across classes.
const std::vector<double> tied_scores{0.9, 0.7, 0.7, 0.3, 0.7, 0.5, 0.3, 0.1};
const std::vector<int> tied_labels{1, 1, 1, 1, 0, 0, 0, 0};

} // namespace

// Wikipedia's second worked example of Cohen's kappa: 100 cases, both say yes 45, A yes / B no 15,
// A no / B yes 25, both no 15. p_o = (45 + 15) / 100 = 0.6; A says yes 60 times, B 70 times, so
// p_e = 0.6 * 0.7 + 0.4 * 0.3 = 0.54; kappa = (0.6 - 0.54) / (1 - 0.54) = 0.06 / 0.46 = 0.130435.
TEST(EvaluationMetrics, KappaMatchesAWorkedExample) {
  std::vector<int> a, b;
  auto add = [&](int count, int first, int second) {
    for (int i = 0; i < count; ++i) {
      a.push_back(first);
      b.push_back(second);
    }
  };
  add(45, 1, 1);
  add(15, 1, 0);
  add(25, 0, 1);
  add(15, 0, 0);
  EXPECT_NEAR(cohen_kappa(a, b), 0.06 / 0.46, 1e-12);
  EXPECT_NEAR(cohen_kappa(b, a), 0.06 / 0.46, 1e-12) << "kappa is symmetric";
  // Precision 45/60, sensitivity 45/70; F1 = 2*45 / (2*45 + 15 + 25) = 90/130; the normal class's
  // F1 = 2*15 / (2*15 + 25 + 15) = 30/70; macro F1 = (90/130 + 30/70) / 2.
  const BinaryCounts counts = count_outcomes(a, b);
  EXPECT_DOUBLE_EQ(counts.precision(), 45.0 / 60.0);
  EXPECT_DOUBLE_EQ(counts.f1(), 90.0 / 130.0);
  EXPECT_DOUBLE_EQ(counts.macro_f1(), (90.0 / 130.0 + 30.0 / 70.0) / 2.0);
}

// Pairs (positive, negative), 16 in all, a win 1, a tie 1/2:
//   0.9 beats all four negatives: 4;  each 0.7: ties 0.7, beats 0.5 0.3 0.1: 3.5 twice;
//   0.3: loses to 0.7 and 0.5, ties 0.3, beats 0.1: 1.5.   (4 + 3.5 + 3.5 + 1.5) / 16 = 12.5 / 16.
TEST(EvaluationMetrics, AurocWithTiesCountsHalfPairs) {
  EXPECT_DOUBLE_EQ(auroc(tied_scores, tied_labels), 12.5 / 16.0);
}

// Calling positive every score >= t, from the highest t down (P = N = 4):
//   t=0.9: TP 1 FP 0 -> (0, .25);  t=0.7: TP 3 FP 1 -> (.25, .75);  t=0.5: TP 3 FP 2 -> (.5, .75);
//   t=0.3: TP 4 FP 3 -> (.75, 1);  t=0.1: TP 4 FP 4 -> (1, 1).
// The trapezoids under these points add up to 0 + .125 + .1875 + .21875 + .25 = .78125, the same
// 12.5/16 as the pair count: tied scores make diagonal steps.
TEST(EvaluationMetrics, RocCurveStepsDiagonallyOverTies) {
  const auto curve = roc_curve(tied_scores, tied_labels);
  ASSERT_EQ(curve.size(), 6u);
  const double expected[][3] = {{0.9, 0, .25}, {0.7, .25, .75}, {0.5, .5, .75}, {0.3, .75, 1}, {0.1, 1, 1}};
  EXPECT_TRUE(std::isinf(curve[0].threshold));
  for (std::size_t i = 0; i < 5; ++i) {
    EXPECT_DOUBLE_EQ(curve[i + 1].threshold, expected[i][0]);
    EXPECT_DOUBLE_EQ(curve[i + 1].false_positive_rate, expected[i][1]);
    EXPECT_DOUBLE_EQ(curve[i + 1].true_positive_rate, expected[i][2]);
  }
  double area = 0;
  for (std::size_t i = 1; i < curve.size(); ++i)
    area += (curve[i].false_positive_rate - curve[i - 1].false_positive_rate) *
            (curve[i].true_positive_rate + curve[i - 1].true_positive_rate) / 2;
  EXPECT_DOUBLE_EQ(area, 0.78125);
}

// Youden's J = TPR - FPR at the points above: .25, .5, .25, .25, 0: the best is t = 0.7.
TEST(EvaluationMetrics, YoudenPicksTheLargestSensitivityPlusSpecificity) {
  EXPECT_DOUBLE_EQ(youden_threshold(tied_scores, tied_labels), 0.7);
  // Scores 0.8 (pos) 0.6 (neg) 0.4 (pos) 0.2 (neg): J at 0.8 = .5 - 0 = .5, at 0.6 = .5 - .5 = 0,
  // at 0.4 = 1 - .5 = .5, at 0.2 = 0. Equal J: the higher threshold, 0.8, wins.
  EXPECT_DOUBLE_EQ(youden_threshold(std::vector<double>{0.8, 0.6, 0.4, 0.2}, std::vector<int>{1, 0, 1, 0}),
                   0.8);
  EXPECT_THROW(youden_threshold(std::vector<double>{0.1, 0.2}, std::vector<int>{1, 1}),
               std::invalid_argument);
}

// Positive scores, highest first: 0.9 0.7 0.7 0.3. A sensitivity of s needs ceil(4 s) positives:
//   s = 0.5  -> 2 -> the 2nd score, 0.7 (which keeps 3: sensitivity .75, specificity .75);
//   s = 0.75 -> 3 -> 0.7;   s = 0.8 -> 4 (3.2 rounded up) -> 0.3;   s = 0.25 -> 1 -> 0.9.
// At each, a threshold just above keeps too few positives: that is what makes it the most specific.
TEST(EvaluationMetrics, TargetSensitivityPicksTheMostSpecificThresholdReachingIt) {
  EXPECT_DOUBLE_EQ(threshold_for_sensitivity(tied_scores, tied_labels, 0.5), 0.7);
  EXPECT_DOUBLE_EQ(threshold_for_sensitivity(tied_scores, tied_labels, 0.75), 0.7);
  EXPECT_DOUBLE_EQ(threshold_for_sensitivity(tied_scores, tied_labels, 0.8), 0.3);
  EXPECT_DOUBLE_EQ(threshold_for_sensitivity(tied_scores, tied_labels, 0.25), 0.9);
  for (double target : {0.25, 0.5, 0.75, 0.8, 1.0}) {
    const double threshold = threshold_for_sensitivity(tied_scores, tied_labels, target);
    EXPECT_GE(count_outcomes(threshold_at(tied_scores, threshold), tied_labels).sensitivity(), target);
    EXPECT_LT(count_outcomes(threshold_at(tied_scores, threshold + 1e-9), tied_labels).sensitivity(), target);
  }
  std::vector<ScoredCase> cases;
  for (std::size_t i = 0; i < tied_scores.size(); ++i) cases.push_back({tied_scores[i], tied_labels[i], ""});
  EXPECT_DOUBLE_EQ(choose_threshold("sensitivity", cases, 0.5, 0.8), 0.3);
  EXPECT_DOUBLE_EQ(choose_threshold("youden", cases, 0.5, 0.8), 0.7);
  EXPECT_DOUBLE_EQ(choose_threshold("fixed", cases, 0.42, 0.8), 0.42);
}

// numpy.quantile([1, 2, 3, 4], 0.25) = 1 + 0.75 * (2 - 1) = 1.75 (position 0.25 * 3 = 0.75).
TEST(EvaluationMetrics, QuantileInterpolatesLikeNumpy) {
  std::vector<double> values{4, 1, 3, 2};
  EXPECT_DOUBLE_EQ(quantile(values, 0.25), 1.75);
  EXPECT_DOUBLE_EQ(quantile(values, 1.0), 4.0);
}

// 400 cases, every one called positive, 200 labelled positive: accuracy 0.5. A bootstrap resample's
// accuracy is Binomial(400, 0.5) / 400, with standard deviation sqrt(0.25 / 400) = 0.025; its
// 2.5% and 97.5% quantiles lie 1.96 standard deviations from 0.5, so the 95% interval is about
// 0.451..0.549, 0.098 wide. With 4000 resamples the quantiles' Monte Carlo error is about 0.001
// (sqrt(.025 * .975 / 4000) divided by the density 2.34 there), so 0.006 is a safe tolerance.
TEST(EvaluationMetrics, BootstrapIntervalOfAccuracyHasTheBinomialWidth) {
  std::vector<ScoredCase> cases;
  for (int i = 0; i < 400; ++i) cases.push_back({0.9, i % 2, "hand"});
  const GroupMetrics group = group_metrics("overall", cases, 0.5, {4000, 7, 0.95});
  EXPECT_DOUBLE_EQ(group.counts.accuracy(), 0.5);
  EXPECT_NEAR(group.accuracy_ci.high - group.accuracy_ci.low, 0.098, 0.006);
  EXPECT_NEAR((group.accuracy_ci.high + group.accuracy_ci.low) / 2, 0.5, 0.005);
  // Sensitivity is 1 in every resample that has a positive case: a zero-width interval.
  EXPECT_DOUBLE_EQ(group.sensitivity_ci.low, 1.0);
  EXPECT_DOUBLE_EQ(group.sensitivity_ci.high, 1.0);

  // The same seed gives the same interval; another seed another one.
  const GroupMetrics again = group_metrics("overall", cases, 0.5, {4000, 7, 0.95});
  EXPECT_EQ(again.accuracy_ci.low, group.accuracy_ci.low);
  EXPECT_EQ(again.accuracy_ci.high, group.accuracy_ci.high);
}

// Perfectly separated scores: every resample with both classes has AUROC 1 and kappa 1 (at a
// threshold between the classes); resamples with one class give NaN and are left out. So both
// intervals are exactly [1, 1].
TEST(EvaluationMetrics, BootstrapOfAPerfectModelIsExactlyOne) {
  std::vector<ScoredCase> cases;
  for (int i = 0; i < 20; ++i) cases.push_back({i < 10 ? 0.2 : 0.8, i < 10 ? 0 : 1, ""});
  const GroupMetrics group = group_metrics("overall", cases, 0.5, {500, 1, 0.95});
  EXPECT_DOUBLE_EQ(group.auroc_ci.low, 1.0);
  EXPECT_DOUBLE_EQ(group.auroc_ci.high, 1.0);
  EXPECT_DOUBLE_EQ(group.kappa_ci.low, 1.0);
  EXPECT_DOUBLE_EQ(group.kappa_ci.high, 1.0);
  const GroupMetrics without = group_metrics("overall", cases, 0.5, {0, 1, 0.95});
  EXPECT_TRUE(std::isnan(without.auroc_ci.low)) << "0 resamples: no interval";
}

// Study level with the real `mean` aggregator of the aggregators plugin: three studies.
//   s1 (wrist): images 0.2 (label 0), 0.6 (label 1) -> mean 0.4, label 1 (any image abnormal)
//   s2 (wrist): images 0.9 (1), 0.7 (1), 0.8 (1)    -> mean 0.8, label 1
//   s3 (hand):  image 0.3 (0)                       -> mean 0.3, label 0
// At threshold 0.5: s1 predicted 0 (FN), s2 1 (TP), s3 0 (TN). Study AUROC: positives 0.4 and 0.8
// both beat the negative 0.3: 1.0. Accuracy 2/3, sensitivity 1/2, specificity 1.
TEST(EvaluationMetrics, StudiesAggregateTheirImagesThroughTheRealAggregator) {
  PluginHost plugins;
  plugins.load_folders({RADPIPE_PLUGIN_DIR});
  const auto entry = plugins.find(radpipe::StageKind::Aggregator, "mean");
  ASSERT_TRUE(entry);
  Built<radpipe::Aggregator> mean{*entry, plugins.create<radpipe::Aggregator>(*entry, {}, {})};

  std::vector<ImagePrediction> images;
  auto add = [&](const std::string& study, const std::string& part, double probability, int label) {
    ImagePrediction image;
    image.info.id = study + "/" + std::to_string(images.size());
    image.info.study_id = study;
    image.info.body_part = part;
    image.info.label = label;
    image.probability = probability;
    images.push_back(image);
  };
  add("s1", "wrist", 0.2, 0);
  add("s2", "wrist", 0.9, 1);
  add("s1", "wrist", 0.6, 1);
  add("s3", "hand", 0.3, 0);
  add("s2", "wrist", 0.7, 1);
  add("s2", "wrist", 0.8, 1);
  const auto studies = aggregate_studies(images, mean, 0.5);
  ASSERT_EQ(studies.size(), 3u);
  EXPECT_EQ(studies[0].study_id, "s1");
  EXPECT_EQ(studies[0].image_count, 2u);
  EXPECT_DOUBLE_EQ(studies[0].probability, 0.4);
  EXPECT_EQ(studies[0].label, 1);
  EXPECT_EQ(studies[0].predicted, 0);
  EXPECT_DOUBLE_EQ(studies[1].probability, 0.8);
  EXPECT_EQ(studies[2].label, 0);

  const LevelMetrics level = level_metrics("study", study_cases(studies), 0.5, {});
  EXPECT_EQ(level.overall.counts.total(), 3);
  EXPECT_EQ(level.overall.counts.false_negative, 1);
  EXPECT_EQ(level.overall.counts.true_positive, 1);
  EXPECT_EQ(level.overall.counts.true_negative, 1);
  EXPECT_DOUBLE_EQ(level.overall.auroc, 1.0);
  EXPECT_DOUBLE_EQ(level.overall.counts.accuracy(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(level.overall.counts.sensitivity(), 0.5);
  ASSERT_EQ(level.parts.size(), 2u);
  EXPECT_EQ(level.parts[0].name, "hand");
  EXPECT_EQ(level.parts[1].name, "wrist");
  EXPECT_TRUE(std::isnan(level.parts[1].auroc)) << "both wrist studies are abnormal: AUROC undefined";
  EXPECT_TRUE(to_json(level)["parts"]["wrist"]["auroc"].is_null()) << "NaN is written as null";
}

TEST(EvaluationMetrics, RecognisesMuraStudyPaths) {
  EXPECT_TRUE(is_mura_study_path("MURA-v1.1/valid/XR_WRIST/patient11185/study1_positive/"));
  EXPECT_TRUE(is_mura_study_path("XR_HAND/patient00001/study1_negative"));
  EXPECT_FALSE(is_mura_study_path("images/IMG0000015"));
}

TEST(EvaluationMetrics, ReadsTheSharedMuraReferenceTable) {
  const auto rows = read_reference(std::string(RADPIPE_SHARED_DIR) + "/reference/mura-kappa.csv");
  ASSERT_FALSE(rows.empty());
  // The file's second row: elbow,radiologist_2,0.710,0.674,0.745.
  EXPECT_EQ(rows[1].study_type, "elbow");
  EXPECT_EQ(rows[1].reader, "radiologist_2");
  EXPECT_DOUBLE_EQ(rows[1].kappa, 0.710);
  EXPECT_DOUBLE_EQ(rows[1].ci.low, 0.674);
  // model_densenet169 rows have empty intervals.
  EXPECT_EQ(rows[3].reader, "model_densenet169");
  EXPECT_TRUE(std::isnan(rows[3].ci.low));
}

// Three classes, eight cases (label, predicted): (0,0) (0,0) (0,1) (1,1) (1,2) (2,2) (2,2) (2,0).
// Confusion, rows true: [2 1 0; 0 1 1; 1 0 2]. Class 0: 2 hits of 3 cases and 3 calls, so
// precision = recall = F1 = 2/3; class 1: 1 of 2 and 2, all 1/2; class 2: 2 of 3 and 3, all 2/3.
// macro F1 = (2/3 + 1/2 + 2/3) / 3 = 11/18; accuracy = 5/8. A fourth class that is neither present
// nor predicted has no F1 and stays out of the mean.
TEST(EvaluationMetrics, MulticlassMetricsMatchAHandCount) {
  const std::vector<ClassifiedCase> cases{{0, 0}, {0, 0}, {0, 1}, {1, 1}, {1, 2}, {2, 2}, {2, 2}, {2, 0}};
  const auto metrics = multiclass_metrics("image", cases, {"hand", "leg", "hip", "knee"}, {200, 7, 0.95});
  EXPECT_EQ(metrics.cases, 8u);
  EXPECT_EQ(metrics.confusion, (std::vector<std::vector<std::size_t>>{{2, 1, 0, 0}, {0, 1, 1, 0}, {1, 0, 2, 0}, {0, 0, 0, 0}}));
  ASSERT_EQ(metrics.classes.size(), 4u);
  EXPECT_EQ(metrics.classes[0].name, "hand");
  EXPECT_EQ(metrics.classes[0].support, 3u);
  EXPECT_NEAR(metrics.classes[0].precision, 2.0 / 3, 1e-12);
  EXPECT_NEAR(metrics.classes[1].recall, 0.5, 1e-12);
  EXPECT_NEAR(metrics.classes[2].f1, 2.0 / 3, 1e-12);
  EXPECT_TRUE(std::isnan(metrics.classes[3].f1));
  EXPECT_NEAR(metrics.macro_f1, 11.0 / 18, 1e-12);
  EXPECT_NEAR(metrics.accuracy, 5.0 / 8, 1e-12);
  EXPECT_LE(metrics.accuracy_ci.low, metrics.accuracy);
  EXPECT_GE(metrics.accuracy_ci.high, metrics.accuracy);
  EXPECT_LT(metrics.macro_f1_ci.low, metrics.macro_f1_ci.high);
  const auto json = to_json(metrics);
  EXPECT_EQ(json["confusion"][2][0], 1);
  EXPECT_TRUE(json["classes"][3]["f1"].is_null());
  EXPECT_THROW(multiclass_metrics("image", std::vector<ClassifiedCase>{{0, 5}}, {"a", "b"}, {}), std::invalid_argument);
}

// Pooled cross-validation cases keep their fold's threshold: the same scores called at 0.5 and
// at their own thresholds give other counts.
TEST(EvaluationMetrics, ACaseWithItsOwnThresholdIsCalledAtIt) {
  std::vector<ScoredCase> cases{{0.6, 1, "hand", 0.7}, {0.4, 0, "hand", 0.3}, {0.8, 1, "leg", std::nullopt}};
  const auto group = group_metrics("overall", cases, 0.5, {});
  EXPECT_EQ(group.counts.true_positive, 1);  // 0.8 at the level's 0.5
  EXPECT_EQ(group.counts.false_negative, 1); // 0.6 below its own 0.7
  EXPECT_EQ(group.counts.false_positive, 1); // 0.4 above its own 0.3
}

// Mean and sample sd of 1, 2, 3, 4: mean 2.5, sd = sqrt(((1.5^2 + 0.5^2) * 2) / 3) = sqrt(5/3).
TEST(EvaluationMetrics, SpreadIsTheMeanAndSampleSdOfTheFiniteValues) {
  const std::vector<double> values{1, 2, std::nan(""), 3, 4};
  const Spread spread = spread_of(values);
  EXPECT_EQ(spread.count, 4u);
  EXPECT_DOUBLE_EQ(spread.mean, 2.5);
  EXPECT_NEAR(spread.sd, std::sqrt(5.0 / 3.0), 1e-12);
  EXPECT_TRUE(std::isnan(spread_of(std::vector<double>{1.0}).sd));
}
