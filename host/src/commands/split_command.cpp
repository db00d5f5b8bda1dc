#include "commands/split_command.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "io/atomic_file.hpp"
#include "runtime/pipeline.hpp"
#include "data/splits.hpp"

namespace radpipe::host {
namespace {

// The columns every listing has, in the order written; the reader's tags follow, then the
// split columns. Read back with the csv reader: id_column = "id", patient_column = "patient",
// study_column = "study", body_part_column = "body_part", view_column = "view".
const std::vector<std::string> listing_columns{"image",     "id",   "patient", "study",
                                               "body_part", "view", "label",   "source_split"};

std::vector<std::string> split_columns(std::size_t folds) {
  if (folds == 0) return {"split"};
  std::vector<std::string> columns{"fold"};
  for (std::size_t f = 1; f <= folds; ++f) columns.push_back("split_fold" + std::to_string(f));
  return columns;
}

} // namespace

int command_split(const GlobalOptions& global, const SplitOptions& options) {
  if (options.folds == 0 && !(options.valid_fraction > 0.0 && options.valid_fraction < 1.0)) {
    spdlog::error("--valid {} leaves a split empty; give a share between 0 and 1, such as 0.2",
                  options.valid_fraction);
    return exit_usage;
  }
  PluginHost plugins;
  load_plugins(plugins, global);
  auto config = validate_or_report(options.pipeline, plugins, global.overrides);
  if (!config) return exit_invalid;
  prepare_output_file(options.out, "--out");
  const std::uint64_t seed =
      options.seed.value_or(static_cast<std::uint64_t>(config->settings.integer("seed")));
  const SplitPlan plan = options.folds > 0 ? SplitPlan::k_fold(options.folds, seed)
                                           : SplitPlan::holdout(options.valid_fraction, seed);

  // Only the listing is needed: the reader is built alone, and nothing is decoded.
  const int threads = resolve_threads(
      global.threads > 0 ? global.threads : static_cast<int>(config->settings.integer("threads")));
  Built<Reader> reader = build_reader(*config, plugins, threads);
  std::vector<SampleInfo> listing;
  call_plugin(reader.entry, [&] {
    while (auto info = reader.stage->next()) listing.push_back(std::move(*info));
  });
  if (listing.empty()) {
    spdlog::error("the reader of {} lists no images; nothing to split", options.pipeline.string());
    return exit_invalid;
  }

  std::vector<SplitItem> items;
  items.reserve(listing.size());
  for (const auto& info : listing) items.push_back({split_group(info), split_stratum(info)});
  const auto folds = assign_folds(items, plan);

  // Tags become columns; a tag named like one of the written columns (the split columns of an
  // earlier `radpipe split`, say) is replaced by this split and dropped.
  const auto split_names = split_columns(options.folds);
  std::set<std::string> taken(listing_columns.begin(), listing_columns.end());
  taken.insert(split_names.begin(), split_names.end());
  std::set<std::string> tag_names, dropped;
  for (const auto& info : listing)
    for (const auto& [name, value] : info.tags) (taken.count(name) ? dropped : tag_names).insert(name);
  for (const auto& name : dropped)
    spdlog::warn("split: the reader's column '{}' is replaced by this split's", name);

  write_file_atomically(options.out, [&](std::ostream& out) {
    std::vector<std::string> header = listing_columns;
    header.insert(header.end(), tag_names.begin(), tag_names.end());
    header.insert(header.end(), split_names.begin(), split_names.end());
    out << join(header, ",") << '\n';
    for (std::size_t i = 0; i < listing.size(); ++i) {
      const SampleInfo& info = listing[i];
      std::vector<std::string> row{info.path,
                                   info.id,
                                   info.patient_id,
                                   info.study_id,
                                   info.body_part,
                                   info.view,
                                   info.label ? std::to_string(*info.label) : std::string(),
                                   info.split};
      for (const auto& name : tag_names) {
        auto tag = info.tags.find(name);
        row.push_back(tag == info.tags.end() ? std::string() : tag->second);
      }
      if (options.folds == 0) {
        row.push_back(folds[i] == 0 ? "train" : "valid");
      } else {
        row.push_back(std::to_string(folds[i] + 1));
        for (std::size_t f = 0; f < options.folds; ++f) row.push_back(folds[i] == f ? "valid" : "train");
      }
      for (auto& field : row) field = csv_field(field);
      out << join(row, ",") << '\n';
    }
  });

  std::vector<std::size_t> per_fold(plan.fractions.size(), 0);
  for (std::size_t fold : folds) ++per_fold[fold];
  std::set<std::string> groups;
  for (const auto& item : items) groups.insert(item.group);
  std::vector<std::string> sizes;
  for (std::size_t f = 0; f < per_fold.size(); ++f)
    sizes.push_back(options.folds == 0 ? fmt::format("{} {}", f == 0 ? "train" : "valid", per_fold[f])
                                       : fmt::format("fold {} {}", f + 1, per_fold[f]));
  spdlog::info("split: {} images in {} groups, seed {}: {}; written to {}", listing.size(), groups.size(),
               seed, join(sizes), options.out.string());
  return exit_ok;
}

} // namespace radpipe::host
