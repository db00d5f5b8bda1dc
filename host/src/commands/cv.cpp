#include "commands/cv.hpp"

#include "commands/evaluate.hpp"
#include "commands/train.hpp"
#include "data/splits.hpp"
#include "io/atomic_file.hpp"
#include "report/evaluation.hpp"
#include "report/report.hpp"
#include "runtime/pipeline.hpp"

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <set>

namespace radpipe::host {
namespace fs = std::filesystem;
namespace {

// A sample's role in one fold: trained on, validated on (best epoch, threshold), or held out.
constexpr char role_train = 't', role_valid = 'v', role_test = 'T';
// The split name the held-out part gets; unlike any a reader or [train] uses.
const std::string held_out_split = "cv-held-out";

struct FoldPlan {
  std::size_t folds = 0;
  std::uint64_t seed = 0;
  double valid_fraction = 0.0;
  std::map<std::string, std::string> roles; // sample id -> one role character per fold
};

std::string role_name(char role) { return role == role_train ? "train" : role == role_valid ? "valid" : "test"; }

// Patient-grouped folds stratified by label and body part (the split of `radpipe split --k`),
// then inside each fold's training part a patient-grouped validation share.
FoldPlan plan_folds(const std::vector<SampleInfo>& listing, std::size_t folds, std::uint64_t seed, double valid_fraction) {
  std::vector<SplitItem> items;
  for (const auto& info : listing) items.push_back({split_group(info), split_stratum(info)});
  const auto fold_of = assign_folds(items, SplitPlan::k_fold(folds, seed));
  FoldPlan plan{folds, seed, valid_fraction, {}};
  for (std::size_t i = 0; i < listing.size(); ++i) {
    std::string roles(folds, role_train);
    roles[fold_of[i]] = role_test;
    plan.roles[listing[i].id] = roles;
  }
  for (std::size_t fold = 0; fold < folds; ++fold) {
    std::vector<SplitItem> training;
    std::vector<const SampleInfo*> members;
    for (std::size_t i = 0; i < listing.size(); ++i)
      if (fold_of[i] != fold) {
        training.push_back(items[i]);
        members.push_back(&listing[i]);
      }
    const auto inner = assign_folds(training, SplitPlan::holdout(valid_fraction, seed + fold + 1));
    for (std::size_t i = 0; i < members.size(); ++i)
      if (inner[i] == 1) plan.roles[members[i]->id][fold] = role_valid;
  }
  return plan;
}

nlohmann::json plan_json(const FoldPlan& plan) {
  return {{"folds", plan.folds}, {"seed", plan.seed}, {"valid_fraction", plan.valid_fraction}, {"roles", plan.roles}};
}

FoldPlan plan_from_json(const nlohmann::json& json) {
  return {json.at("folds").get<std::size_t>(), json.at("seed").get<std::uint64_t>(), json.at("valid_fraction").get<double>(),
          json.at("roles").get<std::map<std::string, std::string>>()};
}

void write_folds_csv(const std::vector<SampleInfo>& listing, const FoldPlan& plan, const fs::path& file) {
  write_file_atomically(file, [&](std::ostream& out) {
    out << "id,image,patient,study,body_part,label,fold";
    for (std::size_t fold = 1; fold <= plan.folds; ++fold) out << ",role_fold" << fold;
    out << '\n';
    for (const auto& info : listing) {
      const std::string& roles = plan.roles.at(info.id);
      out << csv_field(info.id) << ',' << csv_field(info.path) << ',' << csv_field(info.patient_id) << ','
          << csv_field(info.study_id) << ',' << csv_field(info.body_part) << ',' << (info.label ? std::to_string(*info.label) : "")
          << ',' << roles.find(role_test) + 1;
      for (char role : roles) out << ',' << role_name(role);
      out << '\n';
    }
  });
}

// One scored case of a fold as oof.json keeps it.
struct OutOfFold {
  std::string id, part;
  std::optional<int> label;
  double probability = 0.0;
};

nlohmann::json cases_json(const std::vector<OutOfFold>& cases) {
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& item : cases)
    rows.push_back({item.id, item.part, item.label ? nlohmann::json(*item.label) : nlohmann::json(nullptr), item.probability});
  return rows;
}

std::vector<OutOfFold> cases_from_json(const nlohmann::json& rows) {
  std::vector<OutOfFold> cases;
  for (const auto& row : rows)
    cases.push_back({row.at(0).get<std::string>(), row.at(1).get<std::string>(),
                     row.at(2).is_null() ? std::nullopt : std::optional<int>(row.at(2).get<int>()), row.at(3).get<double>()});
  return cases;
}

// A finished fold: its held-out predictions at each level and the thresholds its evaluation used.
struct FoldResult {
  std::size_t fold = 0; // 1-based
  std::size_t members = 1; // the models whose mean scored it
  std::map<std::string, std::vector<OutOfFold>> levels; // "study", "patient", "image"
  std::map<std::string, double> thresholds;
};

FoldResult fold_result(std::size_t fold, std::size_t members, const EvaluationOutcome& outcome) {
  FoldResult result{fold, members, {}, {}};
  for (const auto& image : outcome.images)
    result.levels["image"].push_back({image.info.id, image.info.body_part, image.info.label, image.probability});
  for (const auto& study : outcome.studies) result.levels["study"].push_back({study.study_id, study.body_part, study.label, study.probability});
  for (const auto& patient : outcome.patients)
    result.levels["patient"].push_back({patient.study_id, patient.body_part, patient.label, patient.probability});
  result.thresholds = {{"image", outcome.image_threshold}, {"study", outcome.study_threshold}, {"patient", outcome.patient_threshold}};
  return result;
}

nlohmann::json fold_json(const FoldResult& result) {
  nlohmann::json levels = nlohmann::json::object();
  for (const auto& [level, cases] : result.levels) levels[level] = cases_json(cases);
  return {{"fold", result.fold}, {"members", result.members}, {"thresholds", result.thresholds}, {"levels", levels}};
}

FoldResult fold_from_json(const nlohmann::json& json) {
  FoldResult result{json.at("fold").get<std::size_t>(), json.value("members", std::size_t{1}), {},
                    json.at("thresholds").get<std::map<std::string, double>>()};
  for (const auto& [level, rows] : json.at("levels").items()) result.levels[level] = cases_from_json(rows);
  return result;
}

std::vector<ScoredCase> scored_cases(const std::vector<OutOfFold>& cases, std::optional<double> threshold) {
  std::vector<ScoredCase> scored;
  for (const auto& item : cases)
    if (item.label) scored.push_back({item.probability, *item.label == 0 ? 0 : 1, item.part, threshold});
  return scored;
}

// The levels in report order: study first, patient when some fold has patients, image last.
std::vector<std::string> levels_present(const std::vector<FoldResult>& results) {
  std::vector<std::string> levels;
  for (const std::string level : {"study", "patient", "image"})
    for (const auto& result : results)
      if (auto found = result.levels.find(level); found != result.levels.end() && !found->second.empty()) {
        levels.push_back(level);
        break;
      }
  return levels;
}

// The last checkpoint of a finished `radpipe train` run. Scored with BuildOptions::selected_weights,
// it gives every chain the weights its best.pt (best-NAME.pt) holds, the epoch it selected ([train]
// select), even when a routed run's chains selected different epochs.
fs::path last_checkpoint(const fs::path& run) { return run / "checkpoints" / "last"; }

// Member M (0-based) of a fold: its `radpipe train` run and the file that marks it trained. The
// first keeps the names of a cross-validation without members, so that one can grow into an ensemble.
fs::path of_member(const fs::path& fold_folder, const std::string& name, std::size_t member) {
  return fold_folder / (member == 0 ? name : fmt::format("{}-{}", name, member + 1));
}
fs::path member_run(const fs::path& fold_folder, std::size_t member) { return of_member(fold_folder, "train", member); }
fs::path member_trained_marker(const fs::path& fold_folder, std::size_t member) { return of_member(fold_folder, "trained", member); }

nlohmann::json number_or_null(double value) { return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr); }

const std::vector<std::pair<std::string, double (*)(const GroupMetrics&)>>& fold_figures() {
  static const std::vector<std::pair<std::string, double (*)(const GroupMetrics&)>> figures{
      {"auroc", [](const GroupMetrics& g) { return g.auroc; }},
      {"kappa", [](const GroupMetrics& g) { return g.kappa; }},
      {"accuracy", [](const GroupMetrics& g) { return g.counts.accuracy(); }},
      {"sensitivity", [](const GroupMetrics& g) { return g.counts.sensitivity(); }},
      {"specificity", [](const GroupMetrics& g) { return g.counts.specificity(); }},
  };
  return figures;
}

} // namespace

int command_cv(const GlobalOptions& global, const CvOptions& options) {
  if (!(options.valid_fraction > 0.0 && options.valid_fraction < 1.0)) {
    spdlog::error("--valid {} leaves a training or validation part empty; give a share between 0 and 1, such as 0.1",
                  options.valid_fraction);
    return exit_usage;
  }
  PluginHost plugins;
  load_plugins(plugins, global);
  auto config = validate_or_report(options.pipeline, plugins, global.overrides);
  if (!config) return exit_invalid;
  if (!config->train) {
    std::cerr << options.pipeline.string() << ": error: no [train] table; cross-validation trains every fold\n";
    return exit_invalid;
  }
  const fs::path& out = options.out_dir;
  const fs::path state_file = out / "folds.json";
  if (fs::exists(state_file) && !options.resume) {
    spdlog::error("{} holds a cross-validation already: pass --resume to continue it, or choose another --out", out.string());
    return exit_usage;
  }

  // The listing: every labelled sample (of the chosen splits), decoded by nobody yet.
  const int threads = resolve_threads(global.threads > 0 ? global.threads : static_cast<int>(config->settings.integer("threads")));
  Built<Reader> reader = build_reader(*config, plugins, threads);
  std::vector<SampleInfo> listing;
  std::set<std::string> ids;
  std::size_t unlabelled = 0;
  call_plugin(reader.entry, [&] {
    while (auto info = reader.stage->next()) {
      if (!options.splits.empty() && std::find(options.splits.begin(), options.splits.end(), info->split) == options.splits.end())
        continue;
      if (!info->label) {
        ++unlabelled;
        continue;
      }
      if (!ids.insert(info->id).second)
        throw std::runtime_error("the reader lists id '" + info->id + "' twice; cross-validation needs unique sample ids");
      listing.push_back(std::move(*info));
    }
  });
  if (unlabelled) spdlog::warn("{} unlabelled samples left out of the cross-validation", unlabelled);
  if (listing.size() < 2 * options.folds) {
    spdlog::error("{} labelled samples{} cannot fill {} folds", listing.size(),
                  options.splits.empty() ? std::string() : " of splits " + join(options.splits), options.folds);
    return exit_invalid;
  }

  FoldPlan plan;
  if (fs::exists(state_file)) {
    plan = plan_from_json(nlohmann::json::parse(std::ifstream(state_file)));
    std::set<std::string> planned;
    for (const auto& [id, roles] : plan.roles) planned.insert(id);
    if (planned != ids || plan.folds != options.folds)
      throw std::runtime_error(state_file.string() + " was planned for " + std::to_string(plan.folds) + " folds over " +
                               std::to_string(planned.size()) + " samples; the pipeline now lists " + std::to_string(ids.size()) +
                               " for " + std::to_string(options.folds) + " folds: start afresh in another --out folder");
    spdlog::info("resuming the {}-fold cross-validation in {}", plan.folds, out.string());
  } else {
    const std::uint64_t seed = options.seed.value_or(static_cast<std::uint64_t>(config->settings.integer("seed")));
    plan = plan_folds(listing, options.folds, seed, options.valid_fraction);
    fs::create_directories(out);
    write_folds_csv(listing, plan, out / "folds.csv");
    write_file_atomically(state_file, [&](std::ostream& stream) { stream << plan_json(plan).dump() << '\n'; });
  }
  std::set<std::string> groups;
  for (const auto& info : listing) groups.insert(split_group(info));
  spdlog::info("cross-validation of '{}': {} samples in {} groups, {} folds, seed {}; inner validation share {}",
               config->settings.string("name"), listing.size(), groups.size(), plan.folds, plan.seed, plan.valid_fraction);
  listing.clear();

  const std::string train_split = config->train->string("train_split"), valid_split = config->train->string("valid_split");
  const auto base_seed = static_cast<std::uint64_t>(config->settings.integer("seed"));
  std::vector<FoldResult> results;
  for (std::size_t fold = 0; fold < plan.folds; ++fold) {
    const fs::path folder = out / fmt::format("fold-{}", fold + 1);
    const fs::path done = folder / "oof.json";
    if (fs::exists(done)) {
      FoldResult before = fold_from_json(nlohmann::json::parse(std::ifstream(done)));
      if (before.members == options.members) {
        results.push_back(std::move(before));
        spdlog::info("fold {}/{}: done before", fold + 1, plan.folds);
        continue;
      }
      spdlog::info("fold {}/{}: scored by {} model{} before; now by {}", fold + 1, plan.folds, before.members,
                   before.members == 1 ? "" : "s", options.members);
    }
    auto assign = [&plan, fold, &train_split, &valid_split](SampleInfo& info) {
      auto found = plan.roles.find(info.id);
      if (found == plan.roles.end()) return false;
      const char role = found->second[fold];
      info.split = role == role_train ? train_split : role == role_valid ? valid_split : held_out_split;
      return true;
    };
    for (std::size_t member = 0; member < options.members; ++member) {
      const fs::path run = member_run(folder, member);
      if (fs::exists(member_trained_marker(folder, member))) continue;
      spdlog::info("fold {}/{}: training{}", fold + 1, plan.folds,
                   options.members == 1 ? std::string() : fmt::format(" member {}/{}, seed {}", member + 1, options.members, base_seed + member));
      TrainOptions train;
      train.pipeline = options.pipeline;
      train.out_dir = run;
      train.resume = fs::exists(run / "checkpoints" / "last" / "meta.json");
      train.device = options.device;
      train.epochs = options.epochs;
      train.sample_filter = assign;
      GlobalOptions member_global = global;
      if (member > 0) member_global.overrides.push_back(fmt::format("pipeline.seed={}", base_seed + member));
      if (const int code = command_train(member_global, train); code != exit_ok) return code;
      write_file_atomically(member_trained_marker(folder, member), [](std::ostream& stream) { stream << "trained\n"; });
    }
    spdlog::info("fold {}/{}: evaluating the held-out part", fold + 1, plan.folds);
    EvaluateOptions evaluate;
    evaluate.pipeline = options.pipeline;
    evaluate.out_dir = folder / "evaluation";
    evaluate.split = held_out_split;
    evaluate.device = options.device;
    evaluate.checkpoint = last_checkpoint(member_run(folder, 0));
    for (std::size_t member = 1; member < options.members; ++member)
      evaluate.member_checkpoints.push_back(last_checkpoint(member_run(folder, member)));
    evaluate.selected_weights = true;
    evaluate.sample_filter = assign;
    evaluate.print_summary = false;
    EvaluationOutcome outcome;
    if (const int code = evaluate_pipeline(global, evaluate, &outcome); code != exit_ok) return code;
    results.push_back(fold_result(fold + 1, options.members, outcome));
    write_file_atomically(done, [&](std::ostream& stream) { stream << fold_json(results.back()).dump() << '\n'; });
  }

  // Each fold's figures at its own operating point, their spread, and the pooled out-of-fold cases.
  const Params& settings = config->evaluate;
  BootstrapOptions bootstrap;
  bootstrap.resamples = static_cast<std::size_t>(settings.integer("bootstrap_resamples"));
  bootstrap.seed = static_cast<std::uint64_t>(settings.has("seed") ? settings.integer("seed") : config->settings.integer("seed"));
  bootstrap.level = settings.real("confidence_level");
  const auto levels = levels_present(results);

  CrossValidationReport report;
  report.pipeline_name = config->settings.string("name");
  report.pipeline_file = config->file;
  report.overrides = config->overrides;
  report.folds = plan.folds;
  report.seed = plan.seed;
  report.valid_fraction = plan.valid_fraction;
  report.members = options.members;
  report.bootstrap = bootstrap;
  report.levels = levels;
  nlohmann::json summary{{"pipeline", config->file.string()},
                         {"pipeline_name", config->settings.string("name")},
                         {"overrides", config->overrides},
                         {"folds", plan.folds},
                         {"seed", plan.seed},
                         {"valid_fraction", plan.valid_fraction},
                         {"members", options.members},
                         {"bootstrap", {{"resamples", bootstrap.resamples}, {"seed", bootstrap.seed}, {"level", bootstrap.level}}},
                         {"per_fold", nlohmann::json::array()},
                         {"mean_sd", nlohmann::json::object()},
                         {"pooled", nlohmann::json::object()}};
  for (const auto& result : results) {
    nlohmann::json fold{{"fold", result.fold}, {"thresholds", result.thresholds}, {"levels", nlohmann::json::object()}};
    std::vector<GroupMetrics> fold_levels;
    for (const auto& level : levels) {
      auto found = result.levels.find(level);
      const auto cases = found == result.levels.end() ? std::vector<ScoredCase>{} : scored_cases(found->second, std::nullopt);
      GroupMetrics metrics = group_metrics("fold " + std::to_string(result.fold), cases, result.thresholds.at(level), BootstrapOptions{});
      nlohmann::json figures{{"cases", metrics.counts.total()}, {"positives", metrics.positives}};
      for (const auto& [name, figure] : fold_figures()) figures[name] = number_or_null(figure(metrics));
      fold["levels"][level] = figures;
      fold_levels.push_back(std::move(metrics));
    }
    summary["per_fold"].push_back(fold);
    report.fold_levels.push_back(std::move(fold_levels));
  }
  for (std::size_t l = 0; l < levels.size(); ++l) {
    for (const auto& [name, figure] : fold_figures()) {
      std::vector<double> values;
      for (const auto& fold : report.fold_levels) values.push_back(figure(fold[l]));
      const Spread spread = spread_of(values);
      summary["mean_sd"][levels[l]][name] = {{"mean", number_or_null(spread.mean)}, {"sd", number_or_null(spread.sd)}, {"folds", spread.count}};
    }
    std::vector<ScoredCase> pooled;
    for (const auto& result : results)
      if (auto found = result.levels.find(levels[l]); found != result.levels.end()) {
        auto cases = scored_cases(found->second, result.thresholds.at(levels[l]));
        pooled.insert(pooled.end(), cases.begin(), cases.end());
      }
    // Every pooled case carries its own fold's threshold; the level has one only when all agree.
    double common = results.front().thresholds.at(levels[l]);
    for (const auto& result : results)
      if (result.thresholds.at(levels[l]) != common) common = std::numeric_limits<double>::quiet_NaN();
    report.pooled.push_back(level_metrics(levels[l], pooled, common, bootstrap));
    summary["pooled"][levels[l]] = to_json(report.pooled.back());
  }
  write_file_atomically(out / "cv.json", [&](std::ostream& stream) { stream << summary.dump(2) << '\n'; });
  write_file_atomically(out / "oof-predictions.csv", [&](std::ostream& stream) {
    stream << "fold,level,id,body_part,probability,threshold,label\n";
    for (const auto& result : results)
      for (const auto& [level, cases] : result.levels)
        for (const auto& item : cases)
          stream << result.fold << ',' << level << ',' << csv_field(item.id) << ',' << csv_field(item.part) << ','
                 << fmt::format("{:.6f},{:.6f}", item.probability, result.thresholds.at(level)) << ','
                 << (item.label ? std::to_string(*item.label) : std::string()) << '\n';
  });
  write_cv_report(report, out);

  for (std::size_t l = 0; l < levels.size(); ++l) {
    const auto& spread = summary["mean_sd"][levels[l]];
    auto cell = [&](const char* name) {
      const auto& item = spread[name];
      return item["mean"].is_null() ? std::string("-")
                                    : fmt::format("{:.3f} ± {:.3f}", item["mean"].get<double>(),
                                                  item["sd"].is_null() ? 0.0 : item["sd"].get<double>());
    };
    const auto& pooled = report.pooled[l];
    auto ci = [](double value, const Interval& interval) {
      if (!std::isfinite(value)) return std::string("-");
      return std::isfinite(interval.low) ? fmt::format("{:.3f} ({:.3f}-{:.3f})", value, interval.low, interval.high)
                                         : fmt::format("{:.3f}", value);
    };
    std::cout << fmt::format("{} level: folds AUROC {}, kappa {}; pooled out-of-fold AUROC {}, kappa {}, n={}\n", levels[l],
                             cell("auroc"), cell("kappa"), ci(pooled.overall.auroc, pooled.overall.auroc_ci),
                             ci(pooled.overall.kappa, pooled.overall.kappa_ci), pooled.overall.counts.total());
    for (const auto& part : pooled.parts)
      std::cout << fmt::format("  {:<12} n={:<6} AUROC {}\n", part.name, part.counts.total(), ci(part.auroc, part.auroc_ci));
  }
  spdlog::info("cross-validation done; wrote {}", (out / "report.html").string());
  return exit_ok;
}

} // namespace radpipe::host
