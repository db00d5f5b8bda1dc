// report.html of `radpipe evaluate`: a static page, viewable offline, with its figures as PNG
// files beside it (drawn by gnuplot): ROC curves, a per-part chart, confusion matrices, metric
// tables with confidence intervals, the published reference when given, and training curves.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "report/evaluation.hpp"

namespace radpipe::host {

// A picture made elsewhere (for instance a Grad-CAM heatmap), already in the output folder.
struct ReportFigure {
  std::string file; // relative to the report
  std::string caption;
};

struct ReportInput {
  std::string pipeline_name;
  std::filesystem::path pipeline_file;
  std::vector<std::string> overrides; // `--set` texts applied to the file
  std::string split;
  std::string threshold_method; // fixed, youden, sensitivity
  std::string threshold_split;  // where a tuned threshold was chosen
  BootstrapOptions bootstrap;
  std::size_t images = 0, studies = 0, patients = 0, skipped = 0;
  std::vector<LevelMetrics> levels; // study level first
  std::vector<MulticlassMetrics> multiclass; // models with k > 1 outputs
  std::vector<ReferenceRow> reference;
  std::filesystem::path reference_file;
  std::filesystem::path training_history; // history.csv of `radpipe train`; empty when none
  // Heatmaps of the pipeline's [explain] stage (most confident true positives, false positives and
  // false negatives); with none, the section says how to get them.
  std::vector<ReportFigure> explanations;
};

// Writes report.html and its figures into `out_dir`, each file atomically.
void write_report(const ReportInput& input, const std::filesystem::path& out_dir);

// report.html of `radpipe cv`: each fold's figures, their mean and sd, and the pooled
// out-of-fold metrics per body part with CIs and ROC curves.
struct CrossValidationReport {
  std::string pipeline_name;
  std::filesystem::path pipeline_file;
  std::vector<std::string> overrides;
  std::size_t folds = 0;
  std::uint64_t seed = 0;
  double valid_fraction = 0.0;
  std::size_t members = 1; // models trained per fold (other seeds), averaged when its held-out part is scored
  BootstrapOptions bootstrap;
  std::vector<std::string> levels;                  // "study", "patient", "image": the order of the vectors below
  std::vector<std::vector<GroupMetrics>> fold_levels; // [fold][level]: the fold's overall figures
  std::vector<LevelMetrics> pooled;                 // [level]
};
void write_cv_report(const CrossValidationReport& input, const std::filesystem::path& out_dir);

// The rows of the comparison with the reference table: for every body part (and "overall") that
// the reference names, this run's study-level kappa beside each published reader's.
struct ReferenceComparison {
  std::string study_type;
  double kappa = 0.0;
  Interval kappa_ci;
  std::vector<const ReferenceRow*> published; // in the reference file's order
};
std::vector<ReferenceComparison> compare_with_reference(const LevelMetrics& study_level,
                                                        const std::vector<ReferenceRow>& reference);

} // namespace radpipe::host
