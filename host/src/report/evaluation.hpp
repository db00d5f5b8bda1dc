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

// One labelled case of one level: an image, or a study.
struct ScoredCase {
  double score = 0.0;
  int label = 0;
  std::string part; // body part, empty when unknown
};

std::vector<ScoredCase> image_cases(std::span<const ImagePrediction> images); // labelled ones only
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
