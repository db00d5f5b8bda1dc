// `radpipe cv PIPELINE --k 5 --out DIR`: k-fold cross-validation grouped by patient. The folds
// come from the same seeded, stratified, patient-level split as `radpipe split --k`; each fold is
// trained by `radpipe train` and scored by `radpipe evaluate` on its held-out part (their code,
// with the fold's splits assigned to the listed samples), then the out-of-fold predictions are
// pooled. A run that stops resumes where it stopped with --resume.
//
// DIR/folds.csv          every sample's fold and its role (train, valid, test) in each fold
// DIR/fold-N/train/      the fold's `radpipe train` run (checkpoints, history.csv)
// DIR/fold-N/train-M/    with --members: member M's run, seeded [pipeline] seed + M - 1
// DIR/fold-N/evaluation/ the fold's `radpipe evaluate` run on its held-out part
// DIR/fold-N/oof.json    the fold's out-of-fold predictions and thresholds: the fold is done
// DIR/cv.json            each fold's figures, their mean and sd, pooled metrics with CIs
// DIR/oof-predictions.csv, DIR/report.html
#pragma once

#include "commands/commands.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace radpipe::host {

struct CvOptions {
  std::filesystem::path pipeline;
  std::filesystem::path out_dir;
  std::size_t folds = 5;
  std::optional<std::uint64_t> seed; // default: the pipeline's seed
  // Share of each fold's training part held out (by patient) to pick the best epoch and the
  // threshold, so that the held-out fold stays unseen until it is scored.
  double valid_fraction = 0.1;
  std::vector<std::string> splits; // only samples of these splits; empty: every labelled sample
  bool resume = false;
  std::string device;
  std::optional<int> epochs; // replaces [train] epochs when set
  // Models trained per fold, member M with [pipeline] seed + M - 1; the held-out part is scored by
  // their mean (the chain's `average`). A resume with more members trains only the new ones.
  std::size_t members = 1;
};

int command_cv(const GlobalOptions& global, const CvOptions& options);

} // namespace radpipe::host
