#include "data/splits.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

using namespace radpipe;
using namespace radpipe::host;

namespace {

// A MURA-like listing: 300 patients, patient p with 1 + p % 4 studies of 1 + (p + s) % 3 images,
// all in body part p % 3, label (p + s) % 2 (s the study) so that one patient mixes strata. Patients
// 7, 14, 21, ... have no patient id, so each of their images is its own group.
std::vector<SampleInfo> listing() {
  static const char* const parts[] = {"wrist", "elbow", "hand"};
  std::vector<SampleInfo> infos;
  for (int p = 0; p < 300; ++p)
    for (int s = 0; s < 1 + p % 4; ++s)
      for (int k = 0; k < 1 + (p + s) % 3; ++k) {
        SampleInfo info;
        info.id = "p" + std::to_string(p) + "/s" + std::to_string(s) + "/i" + std::to_string(k);
        if (p % 7 != 0) info.patient_id = std::to_string(p);
        info.body_part = parts[p % 3];
        info.label = (p + s) % 2;
        infos.push_back(info);
      }
  return infos;
}

std::vector<SplitItem> items_of(const std::vector<SampleInfo>& infos) {
  std::vector<SplitItem> items;
  for (const auto& info : infos) items.push_back({split_group(info), split_stratum(info)});
  return items;
}

void expect_patient_level_and_stratified(const std::vector<SampleInfo>& infos,
                                         const std::vector<std::size_t>& folds, const SplitPlan& plan) {
  ASSERT_EQ(folds.size(), infos.size());
  // No patient in two folds.
  std::map<std::string, std::size_t> fold_of_patient;
  for (std::size_t i = 0; i < infos.size(); ++i) {
    if (infos[i].patient_id.empty()) continue;
    auto [place, inserted] = fold_of_patient.try_emplace(infos[i].patient_id, folds[i]);
    EXPECT_EQ(place->second, folds[i]) << "patient " << infos[i].patient_id << " is in two folds";
  }
  // Each stratum's count in each fold is within one group of its target: the target is the
  // stratum's total times the fold's share, and one group is the largest number of that stratum's
  // images one patient has (at most 4 studies of 3 images here).
  std::map<std::string, std::size_t> total;
  std::map<std::pair<std::string, std::size_t>, std::size_t> count;
  std::map<std::pair<std::string, std::string>, std::size_t> group_share; // (stratum, group) -> images
  for (std::size_t i = 0; i < infos.size(); ++i) {
    const auto stratum = split_stratum(infos[i]);
    ++total[stratum];
    ++count[{stratum, folds[i]}];
    ++group_share[{stratum, split_group(infos[i])}];
  }
  std::map<std::string, std::size_t> largest_group;
  for (const auto& [key, images] : group_share)
    largest_group[key.first] = std::max(largest_group[key.first], images);
  for (const auto& [stratum, n] : total)
    for (std::size_t f = 0; f < plan.fractions.size(); ++f) {
      const double target = static_cast<double>(n) * plan.fractions[f];
      EXPECT_LE(std::abs(static_cast<double>(count[{stratum, f}]) - target),
                static_cast<double>(largest_group[stratum]))
          << "stratum " << stratum << " fold " << f << ": " << count[{stratum, f}] << " for a target of "
          << target;
    }
}

TEST(Splits, HoldoutIsPatientLevelAndStratified) {
  const auto infos = listing();
  const auto plan = SplitPlan::holdout(0.2, 7);
  expect_patient_level_and_stratified(infos, assign_folds(items_of(infos), plan), plan);
}

TEST(Splits, KFoldIsPatientLevelAndStratified) {
  const auto infos = listing();
  const auto plan = SplitPlan::k_fold(5, 11);
  const auto folds = assign_folds(items_of(infos), plan);
  expect_patient_level_and_stratified(infos, folds, plan);
  EXPECT_EQ(std::set<std::size_t>(folds.begin(), folds.end()), (std::set<std::size_t>{0, 1, 2, 3, 4}));
}

TEST(Splits, SameSeedSameFoldsOtherSeedOtherFolds) {
  const auto items = items_of(listing());
  const auto first = assign_folds(items, SplitPlan::k_fold(5, 3));
  EXPECT_EQ(assign_folds(items, SplitPlan::k_fold(5, 3)), first);
  EXPECT_NE(assign_folds(items, SplitPlan::k_fold(5, 4)), first);
}

TEST(Splits, ImagesWithoutPatientOrStudyAreTheirOwnGroups) {
  SampleInfo lone;
  lone.id = "a";
  EXPECT_EQ(split_group(lone), "image:a");
  lone.study_id = "s";
  EXPECT_EQ(split_group(lone), "study:s");
  lone.patient_id = "p";
  EXPECT_EQ(split_group(lone), "patient:p");
  // 10 single-image groups in one stratum, 30% valid: exactly 3 valid, the stratum's target.
  std::vector<SplitItem> items;
  for (int i = 0; i < 10; ++i) items.push_back({"image:" + std::to_string(i), "0|"});
  const auto folds = assign_folds(items, SplitPlan::holdout(0.3, 1));
  EXPECT_EQ(std::count(folds.begin(), folds.end(), 1u), 3);
}

TEST(Splits, RejectsPlansWithoutTwoFolds) {
  EXPECT_THROW(assign_folds({{"a", "s"}}, SplitPlan::k_fold(1, 0)), std::invalid_argument);
  EXPECT_THROW(assign_folds({{"a", "s"}}, SplitPlan::holdout(1.0, 0)), std::invalid_argument);
}

} // namespace
