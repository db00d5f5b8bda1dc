// The numbers of `radpipe evaluate`: metrics of scored, labelled cases, overall and per body part,
// with bootstrap intervals; the threshold choice; and their JSON form (metrics.json), which
// `radpipe compare` reads back. Needs no LibTorch.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <radpipe/stages.hpp>
#include <string>
#include <vector>

#include "report/metrics.hpp"

namespace radpipe::host {

// One labelled case of one level: an image, a study or a patient.
struct ScoredCase {
  ScoredCase() = default;
  ScoredCase(double score, int label, std::string part, std::optional<double> threshold = std::nullopt)
      : score(score), label(label), part(std::move(part)), threshold(threshold) {}

  double score = 0.0;
  int label = 0;
  std::string part; // body part, empty when unknown
  // The operating point of this case when it is not the level's: pooled out-of-fold cases of
  // cross-validation keep the threshold their fold chose.
  std::optional<double> threshold;
};

std::vector<ScoredCase> image_cases(std::span<const ImagePrediction> images); // labelled ones only
// Studies, or patients: a patient's verdict has the same form as a study's (StudyPrediction
// with the patient id as study id).
std::vector<ScoredCase> study_cases(std::span<const StudyPrediction> studies);

// Metrics of one group of cases (all of a level, or one body part) at one threshold.
struct GroupMetrics {
  std::string name; // "overall" or the body part
  std::size_t positives = 0, negatives = 0;
  BinaryCounts counts;
  double auroc = 0.0, kappa = 0.0;
  Interval auroc_ci, kappa_ci, accuracy_ci, sensitivity_ci, specificity_ci;
  std::vector<RocPoint> roc;
};

struct LevelMetrics {
  std::string level; // "image" or "study"
  double threshold = 0.5;
  GroupMetrics overall;
  std::vector<GroupMetrics> parts; // sorted by name; empty when no case has a body part
};

GroupMetrics group_metrics(std::string name, std::span<const ScoredCase> cases, double threshold,
                           const BootstrapOptions& bootstrap);
LevelMetrics level_metrics(std::string level, std::span<const ScoredCase> cases, double threshold,
                           const BootstrapOptions& bootstrap);

// How [evaluate] picks the operating point: "fixed" (the [aggregate] threshold), "youden", or
// "sensitivity" (the most specific threshold reaching `target_sensitivity`).
double choose_threshold(const std::string& method, std::span<const ScoredCase> cases, double fixed_threshold,
                        double target_sensitivity);

// metrics.json's form of a level; NaN becomes null.
nlohmann::json to_json(const LevelMetrics& level);

// Models with k > 1 outputs: one labelled case, its class and the model's most probable class.
struct ClassifiedCase {
  int label = 0;
  int predicted = 0;
};

struct ClassMetrics {
  std::string name;
  std::size_t support = 0;   // cases of this class
  std::size_t predicted = 0; // cases called this class
  double precision = 0.0, recall = 0.0, f1 = 0.0; // NaN when undefined (nothing called, no case)
};

// Multi-class results of one level: per-class precision, recall and F1, their unweighted mean
// (macro F1), accuracy, and the k x k confusion matrix (rows: true class, columns: predicted).
struct MulticlassMetrics {
  std::string chain; // the multi-class chain
  std::string level; // "image" or "study"
  std::size_t cases = 0;
  std::vector<ClassMetrics> classes;
  std::vector<std::vector<std::size_t>> confusion;
  double accuracy = 0.0, macro_f1 = 0.0;
  Interval accuracy_ci, macro_f1_ci;
};

// `class_names` gives k; a label or prediction outside 0..k-1 throws std::invalid_argument.
MulticlassMetrics multiclass_metrics(std::string level, std::span<const ClassifiedCase> cases,
                                     const std::vector<std::string>& class_names, const BootstrapOptions& bootstrap);
nlohmann::json to_json(const MulticlassMetrics& metrics);

// A row of a published reference table such as shared/reference/mura-kappa.csv:
// study_type,reader,kappa,ci_low,ci_high (empty cells for unknown intervals).
struct ReferenceRow {
  std::string study_type;
  std::string reader;
  double kappa = 0.0;
  Interval ci;
};
// Throws std::runtime_error naming the file and line when it is unreadable or malformed.
std::vector<ReferenceRow> read_reference(const std::filesystem::path& file);

// True when `study_id` is a MURA study path (…/XR_WRIST/patient11185/study1_positive/).
bool is_mura_study_path(const std::string& study_id);

} // namespace radpipe::host
