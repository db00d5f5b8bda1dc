#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands/evaluate.hpp"
#include "report/metrics.hpp"

namespace radpipe::host {
namespace fs = std::filesystem;

namespace {

nlohmann::json read_metrics(const fs::path& run) {
  const fs::path file = fs::is_directory(run) ? run / "metrics.json" : run;
  std::ifstream stream(file);
  if (!stream)
    throw std::runtime_error("cannot read " + file.string() +
                             ": give an output folder of `radpipe evaluate` or its metrics.json");
  try {
    return nlohmann::json::parse(stream);
  } catch (const nlohmann::json::exception& error) {
    throw std::runtime_error(file.string() + " is not valid JSON: " + error.what());
  }
}

double value_of(const nlohmann::json& group, const char* key) {
  return group.contains(key) && group[key].is_number() ? group[key].get<double>() : std::nan("");
}

Interval interval_of(const nlohmann::json& group, const std::string& key) {
  if (!group.contains(key) || !group[key].is_array() || group[key].size() != 2) return {};
  const auto& pair = group[key];
  return {pair[0].is_number() ? pair[0].get<double>() : std::nan(""),
          pair[1].is_number() ? pair[1].get<double>() : std::nan("")};
}

std::string cell(double value) {
  return std::isfinite(value) ? fmt::format("{:.3f}", value) : "-";
}
std::string delta(double a, double b) {
  return std::isfinite(a) && std::isfinite(b) ? fmt::format("{:+.3f}", b - a) : "-";
}

// "yes" when the two intervals share a point, "no" when they are apart (a difference the
// bootstrap supports), "-" when either is unknown.
std::string overlap(const Interval& a, const Interval& b) {
  if (!std::isfinite(a.low) || !std::isfinite(a.high) || !std::isfinite(b.low) || !std::isfinite(b.high))
    return "-";
  return a.low <= b.high && b.low <= a.high ? "yes" : "no";
}

} // namespace

int command_compare(const CompareOptions& options) {
  const nlohmann::json a = read_metrics(options.run_a), b = read_metrics(options.run_b);
  const std::string& level = options.level;
  for (const auto* run : {&a, &b})
    if (!run->contains("levels") || !(*run)["levels"].contains(level))
      throw std::runtime_error("a metrics.json without " + level +
                               "-level metrics: was it written by `radpipe evaluate`?");
  const auto& level_a = a["levels"][level];
  const auto& level_b = b["levels"][level];

  std::vector<std::string> parts;
  for (const auto* run_level : {&level_a, &level_b})
    for (const auto& [part, metrics] : (*run_level)["parts"].items())
      if (std::find(parts.begin(), parts.end(), part) == parts.end()) parts.push_back(part);
  std::sort(parts.begin(), parts.end());
  parts.push_back("overall");

  std::cout << fmt::format("{} level\n  A: {} (pipeline '{}', split {})\n  B: {} (pipeline '{}', split {})\n",
                           level, options.run_a.string(), a.value("pipeline_name", "?"),
                           a.value("split", "?"), options.run_b.string(), b.value("pipeline_name", "?"),
                           b.value("split", "?"));
  std::cout << fmt::format(
      "{:<12} {:>5} {:>5}  {:>7} {:>7} {:>7} {:>7}  {:>7} {:>7} {:>7} {:>7}  {:>7} {:>7} {:>7}\n", "part",
      "n A", "n B", "AUROC A", "AUROC B", "delta", "CIs", "kappa A", "kappa B", "delta", "CIs", "acc A",
      "acc B", "delta");
  int apart = 0;
  for (const auto& part : parts) {
    static const nlohmann::json none = nlohmann::json::object();
    const auto& group_a = part == "overall"                 ? level_a["overall"]
                          : level_a["parts"].contains(part) ? level_a["parts"][part]
                                                            : none;
    const auto& group_b = part == "overall"                 ? level_b["overall"]
                          : level_b["parts"].contains(part) ? level_b["parts"][part]
                                                            : none;
    const double auroc_a = value_of(group_a, "auroc"), auroc_b = value_of(group_b, "auroc");
    const double kappa_a = value_of(group_a, "kappa"), kappa_b = value_of(group_b, "kappa");
    const double accuracy_a = value_of(group_a, "accuracy"), accuracy_b = value_of(group_b, "accuracy");
    const std::string auroc_overlap =
        overlap(interval_of(group_a, "auroc_ci"), interval_of(group_b, "auroc_ci"));
    const std::string kappa_overlap =
        overlap(interval_of(group_a, "kappa_ci"), interval_of(group_b, "kappa_ci"));
    apart += (auroc_overlap == "no") + (kappa_overlap == "no");
    auto count = [](const nlohmann::json& group) {
      return group.contains("cases") ? std::to_string(group["cases"].get<int>()) : "-";
    };
    std::cout << fmt::format(
        "{:<12} {:>5} {:>5}  {:>7} {:>7} {:>7} {:>7}  {:>7} {:>7} {:>7} {:>7}  {:>7} {:>7} {:>7}\n", part,
        count(group_a), count(group_b), cell(auroc_a), cell(auroc_b), delta(auroc_a, auroc_b),
        auroc_overlap == "yes"  ? "overlap"
        : auroc_overlap == "no" ? "apart"
                                : "-",
        cell(kappa_a), cell(kappa_b), delta(kappa_a, kappa_b),
        kappa_overlap == "yes"  ? "overlap"
        : kappa_overlap == "no" ? "apart"
                                : "-",
        cell(accuracy_a), cell(accuracy_b), delta(accuracy_a, accuracy_b));
  }
  std::cout << (apart == 0
                    ? "Every AUROC and kappa confidence interval of A overlaps B's: no difference the "
                      "bootstrap supports.\n"
                    : fmt::format("{} AUROC or kappa confidence interval{} of A and B do not overlap.\n",
                                  apart, apart == 1 ? "" : "s"));
  return exit_ok;
}

} // namespace radpipe::host
