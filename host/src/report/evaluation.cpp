#include "report/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace radpipe::host {

std::vector<ScoredCase> image_cases(std::span<const ImagePrediction> images) {
  std::vector<ScoredCase> cases;
  for (const auto& image : images)
    if (image.info.label)
      cases.push_back({image.probability, *image.info.label == 0 ? 0 : 1, image.info.body_part});
  return cases;
}

std::vector<ScoredCase> study_cases(std::span<const StudyPrediction> studies) {
  std::vector<ScoredCase> cases;
  for (const auto& study : studies)
    if (study.label) cases.push_back({study.probability, *study.label == 0 ? 0 : 1, study.body_part});
  return cases;
}

GroupMetrics group_metrics(std::string name, std::span<const ScoredCase> cases, double threshold,
                           const BootstrapOptions& bootstrap) {
  std::vector<double> scores;
  std::vector<int> labels;
  for (const auto& item : cases) {
    scores.push_back(item.score);
    labels.push_back(item.label);
  }
  std::vector<int> predicted = threshold_at(scores, threshold);
  for (std::size_t i = 0; i < cases.size(); ++i)
    if (cases[i].threshold) predicted[i] = cases[i].score >= *cases[i].threshold ? 1 : 0;
  GroupMetrics group;
  group.name = std::move(name);
  group.positives = static_cast<std::size_t>(std::count(labels.begin(), labels.end(), 1));
  group.negatives = labels.size() - group.positives;
  group.counts = count_outcomes(predicted, labels);
  group.auroc = auroc(scores, labels);
  group.kappa = group.counts.kappa();
  group.roc = roc_curve(scores, labels);

  // Every resample is scored once for the counting metrics and once for AUROC.
  std::vector<double> resampled_scores;
  std::vector<int> resampled_labels, resampled_predicted;
  BinaryCounts resampled_counts;
  auto counts_of = [&](std::span<const std::size_t> picked) {
    resampled_predicted.clear();
    resampled_labels.clear();
    for (auto index : picked) {
      resampled_predicted.push_back(predicted[index]);
      resampled_labels.push_back(labels[index]);
    }
    resampled_counts = count_outcomes(resampled_predicted, resampled_labels);
    return resampled_counts.kappa();
  };
  auto auroc_of = [&](std::span<const std::size_t> picked) {
    resampled_scores.clear();
    for (auto index : picked) resampled_scores.push_back(scores[index]);
    return auroc(resampled_scores, resampled_labels); // labels gathered by counts_of, which runs first
  };
  const auto intervals =
      bootstrap_intervals(cases.size(),
                          {counts_of, auroc_of, [&](auto) { return resampled_counts.accuracy(); },
                           [&](auto) { return resampled_counts.sensitivity(); },
                           [&](auto) { return resampled_counts.specificity(); }},
                          bootstrap);
  group.kappa_ci = intervals[0];
  group.auroc_ci = intervals[1];
  group.accuracy_ci = intervals[2];
  group.sensitivity_ci = intervals[3];
  group.specificity_ci = intervals[4];
  return group;
}

LevelMetrics level_metrics(std::string level, std::span<const ScoredCase> cases, double threshold,
                           const BootstrapOptions& bootstrap) {
  LevelMetrics metrics;
  metrics.level = std::move(level);
  metrics.threshold = threshold;
  metrics.overall = group_metrics("overall", cases, threshold, bootstrap);
  std::map<std::string, std::vector<ScoredCase>> by_part;
  for (const auto& item : cases)
    if (!item.part.empty()) by_part[item.part].push_back(item);
  for (const auto& [part, part_cases] : by_part)
    metrics.parts.push_back(group_metrics(part, part_cases, threshold, bootstrap));
  return metrics;
}

double choose_threshold(const std::string& method, std::span<const ScoredCase> cases, double fixed_threshold,
                        double target_sensitivity) {
  if (method == "fixed") return fixed_threshold;
  std::vector<double> scores;
  std::vector<int> labels;
  for (const auto& item : cases) {
    scores.push_back(item.score);
    labels.push_back(item.label);
  }
  if (method == "youden") return youden_threshold(scores, labels);
  if (method == "sensitivity") return threshold_for_sensitivity(scores, labels, target_sensitivity);
  throw std::invalid_argument("unknown threshold method '" + method + "' (fixed, youden, sensitivity)");
}

namespace {

// JSON has no NaN: an undefined value (AUROC with one class, an interval without resamples) is null.
nlohmann::json number_or_null(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

nlohmann::json interval_json(const Interval& interval) {
  return {number_or_null(interval.low), number_or_null(interval.high)};
}

nlohmann::json group_json(const GroupMetrics& group) {
  const BinaryCounts& c = group.counts;
  nlohmann::json roc = nlohmann::json::array();
  for (const auto& point : group.roc)
    roc.push_back({number_or_null(point.threshold), point.false_positive_rate, point.true_positive_rate});
  return {{"cases", c.total()},
          {"positives", group.positives},
          {"negatives", group.negatives},
          {"confusion",
           {{"true_positive", c.true_positive},
            {"false_positive", c.false_positive},
            {"true_negative", c.true_negative},
            {"false_negative", c.false_negative}}},
          {"accuracy", number_or_null(c.accuracy())},
          {"accuracy_ci", interval_json(group.accuracy_ci)},
          {"sensitivity", number_or_null(c.sensitivity())},
          {"sensitivity_ci", interval_json(group.sensitivity_ci)},
          {"specificity", number_or_null(c.specificity())},
          {"specificity_ci", interval_json(group.specificity_ci)},
          {"precision", number_or_null(c.precision())},
          {"f1", number_or_null(c.f1())},
          {"macro_f1", number_or_null(c.macro_f1())},
          {"auroc", number_or_null(group.auroc)},
          {"auroc_ci", interval_json(group.auroc_ci)},
          {"kappa", number_or_null(group.kappa)},
          {"kappa_ci", interval_json(group.kappa_ci)},
          {"roc", std::move(roc)}};
}

} // namespace

nlohmann::json to_json(const LevelMetrics& level) {
  nlohmann::json parts = nlohmann::json::object();
  for (const auto& part : level.parts) parts[part.name] = group_json(part);
  return {
      {"threshold", level.threshold}, {"overall", group_json(level.overall)}, {"parts", std::move(parts)}};
}

namespace {

// Precision, recall and F1 of every class and their macro mean, from a confusion matrix.
std::vector<ClassMetrics> per_class(const std::vector<std::vector<std::size_t>>& confusion,
                                    const std::vector<std::string>& names) {
  const std::size_t k = confusion.size();
  std::vector<ClassMetrics> classes(k);
  for (std::size_t c = 0; c < k; ++c) {
    ClassMetrics& metrics = classes[c];
    metrics.name = names[c];
    for (std::size_t other = 0; other < k; ++other) {
      metrics.support += confusion[c][other];
      metrics.predicted += confusion[other][c];
    }
    const double hits = static_cast<double>(confusion[c][c]);
    const double nan = std::numeric_limits<double>::quiet_NaN();
    metrics.precision = metrics.predicted ? hits / static_cast<double>(metrics.predicted) : nan;
    metrics.recall = metrics.support ? hits / static_cast<double>(metrics.support) : nan;
    // F1 = 2 TP / (2 TP + FP + FN): defined whenever the class was seen or called.
    const double denominator = static_cast<double>(metrics.support + metrics.predicted);
    metrics.f1 = denominator > 0 ? 2.0 * hits / denominator : nan;
  }
  return classes;
}

// The mean F1 of the classes where it is defined.
double macro_f1_of(const std::vector<ClassMetrics>& classes) {
  double sum = 0.0;
  std::size_t defined = 0;
  for (const auto& metrics : classes)
    if (std::isfinite(metrics.f1)) {
      sum += metrics.f1;
      ++defined;
    }
  return defined ? sum / static_cast<double>(defined) : std::numeric_limits<double>::quiet_NaN();
}

} // namespace

MulticlassMetrics multiclass_metrics(std::string level, std::span<const ClassifiedCase> cases,
                                     const std::vector<std::string>& class_names, const BootstrapOptions& bootstrap) {
  const std::size_t k = class_names.size();
  for (const auto& item : cases)
    if (item.label < 0 || item.predicted < 0 || static_cast<std::size_t>(item.label) >= k ||
        static_cast<std::size_t>(item.predicted) >= k)
      throw std::invalid_argument("a class index outside 0.." + std::to_string(k - 1) + " (label " + std::to_string(item.label) +
                                  ", predicted " + std::to_string(item.predicted) + ")");
  auto confusion_of = [&](auto&& indices) {
    std::vector<std::vector<std::size_t>> confusion(k, std::vector<std::size_t>(k, 0));
    for (std::size_t index : indices) ++confusion[cases[index].label][cases[index].predicted];
    return confusion;
  };
  std::vector<std::size_t> all(cases.size());
  for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;

  MulticlassMetrics metrics;
  metrics.level = std::move(level);
  metrics.cases = cases.size();
  metrics.confusion = confusion_of(all);
  metrics.classes = per_class(metrics.confusion, class_names);
  metrics.macro_f1 = macro_f1_of(metrics.classes);
  std::size_t correct = 0;
  for (std::size_t c = 0; c < k; ++c) correct += metrics.confusion[c][c];
  metrics.accuracy = cases.empty() ? std::numeric_limits<double>::quiet_NaN()
                                   : static_cast<double>(correct) / static_cast<double>(cases.size());

  double resampled_accuracy = 0.0;
  const auto intervals = bootstrap_intervals(
      cases.size(),
      {[&](std::span<const std::size_t> picked) {
         std::size_t hits = 0;
         for (auto index : picked) hits += cases[index].label == cases[index].predicted ? 1 : 0;
         resampled_accuracy = static_cast<double>(hits) / static_cast<double>(picked.size());
         return macro_f1_of(per_class(confusion_of(picked), class_names));
       },
       [&](auto) { return resampled_accuracy; }},
      bootstrap);
  metrics.macro_f1_ci = intervals[0];
  metrics.accuracy_ci = intervals[1];
  return metrics;
}

nlohmann::json to_json(const MulticlassMetrics& metrics) {
  nlohmann::json classes = nlohmann::json::array();
  for (const auto& item : metrics.classes)
    classes.push_back({{"name", item.name},
                       {"support", item.support},
                       {"predicted", item.predicted},
                       {"precision", number_or_null(item.precision)},
                       {"recall", number_or_null(item.recall)},
                       {"f1", number_or_null(item.f1)}});
  return {{"cases", metrics.cases},
          {"accuracy", number_or_null(metrics.accuracy)},
          {"accuracy_ci", interval_json(metrics.accuracy_ci)},
          {"macro_f1", number_or_null(metrics.macro_f1)},
          {"macro_f1_ci", interval_json(metrics.macro_f1_ci)},
          {"classes", std::move(classes)},
          {"confusion", metrics.confusion}};
}

std::vector<ReferenceRow> read_reference(const std::filesystem::path& file) {
  std::ifstream stream(file);
  if (!stream) throw std::runtime_error("cannot read the reference table " + file.string());
  auto number = [&](const std::string& text, int line) {
    if (text.empty()) return std::numeric_limits<double>::quiet_NaN();
    try {
      return std::stod(text);
    } catch (const std::exception&) {
      throw std::runtime_error(file.string() + ":" + std::to_string(line) + ": '" + text +
                               "' is not a number");
    }
  };
  std::vector<ReferenceRow> rows;
  std::string line;
  int line_number = 0;
  while (std::getline(stream, line)) {
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::stringstream fields_stream(line);
    for (std::string field; std::getline(fields_stream, field, ',');) fields.push_back(field);
    if (line.back() == ',') fields.emplace_back();
    if (line_number == 1) {
      if (fields.size() < 3 || fields[0] != "study_type" || fields[1] != "reader" || fields[2] != "kappa")
        throw std::runtime_error(
            file.string() +
            ":1: a reference table starts with the header study_type,reader,kappa,ci_low,ci_high");
      continue;
    }
    if (fields.size() < 3)
      throw std::runtime_error(file.string() + ":" + std::to_string(line_number) +
                               ": expected study_type,reader,kappa[,ci_low,ci_high]");
    ReferenceRow row{fields[0], fields[1], number(fields[2], line_number), {}};
    if (fields.size() >= 5) row.ci = {number(fields[3], line_number), number(fields[4], line_number)};
    rows.push_back(std::move(row));
  }
  return rows;
}

bool is_mura_study_path(const std::string& study_id) {
  static const std::regex mura(R"((^|/)XR_[A-Z]+/patient[^/]+/study[^/]+/?$)");
  return std::regex_search(study_id, mura);
}

} // namespace radpipe::host
