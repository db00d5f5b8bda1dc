// Pipeline files: a TOML document validated in full against the host's own tables and every
// named stage's schema before any stage is built. Every problem is collected, not just the first.
#pragma once

#include "config/diagnostics.hpp"
#include "loader/plugin_host.hpp"

#include <radpipe/schema.hpp>

#include <filesystem>
#include <map>
#include <string_view>
#include <optional>
#include <string>
#include <vector>

namespace radpipe::host {

// One stage as a pipeline file configures it, ready to build.
struct StageConfig {
  std::string table;  // where it was configured: "reader", "preprocess[2]", "route.hand.model", ...
  StageEntry entry;
  Params params;      // validated, defaults applied, paths resolved
  SourceLocation where;
  std::map<std::string, SourceLocation> key_locations; // where each key of the table is set
};

// A whole model chain: its own preprocessing (after the pipeline's shared steps), model, device,
// batch size, aggregator and training settings. [model] is the chain named "default"; each
// [route.NAME] table is the chain NAME.
struct ChainConfig {
  std::string name;                    // "default", or the route's name
  std::string table;                   // "model" or "route.NAME": where the file configures it
  std::vector<StageConfig> preprocess; // its own steps, run after the shared [[preprocess]]
  StageConfig model;
  Params model_host;                   // the host's keys of the model table (device, classes, target)
  std::size_t batch_size = 16;
  std::vector<std::string> match;      // router values that pick this chain besides its name
  StageConfig aggregate;               // its own, or the pipeline's [aggregate]
  double threshold = 0.5;
  std::optional<Params> train;         // [train] with [route.NAME.train] on top; absent without [train]
  SourceLocation where;

  const std::string& device() const { return model_host.string("device"); }
  // Class names of a multi-class chain; empty for a binary one.
  std::vector<std::string> classes() const { return model_host.has("classes") ? model_host.strings("classes") : std::vector<std::string>{}; }
  const std::string& target() const { return model_host.string("target"); }
  // Weights files of an ensemble (the model table's `ensemble`, resolved); empty: one model.
  std::vector<std::string> ensemble() const {
    return model_host.has("ensemble") ? model_host.strings("ensemble") : std::vector<std::string>{};
  }
  // True when `value` names this chain or is in its match list (case-insensitive).
  bool matches(std::string_view value) const;
};

// The [route] table: a Router stage and the host's routing policy.
struct RouteConfig {
  StageConfig router;
  Params policy;       // the host's keys: fallback, on_unknown, consult, train_by, max_study_images
  std::string fallback; // resolved: the fallback chain's name, or empty when there is none

  const std::string& on_unknown() const { return policy.string("on_unknown"); }
  std::string consult() const { return policy.has("consult") ? policy.string("consult") : std::string(); }
  std::string train_by() const { return policy.has("train_by") ? policy.string("train_by") : std::string(); }
};

struct PipelineConfig {
  std::filesystem::path file;
  std::filesystem::path folder; // relative paths in the file resolve against this
  Params settings;              // the [pipeline] table
  StageConfig reader;
  std::vector<StageConfig> preprocess; // shared: runs once, before routing
  std::vector<ChainConfig> chains;     // the [model] chain first when present, then routes in file order
  std::optional<RouteConfig> route;    // absent: every image goes to the [model] chain
  StageConfig aggregate;               // the pipeline's [aggregate]; chains without their own use it
  double threshold = 0.5;
  std::optional<Params> train;          // the [train] table, when present
  std::optional<StageConfig> explain;   // the [explain] table (an Explainer stage), when present
  Params evaluate;                      // the [evaluate] table; its defaults when absent
  std::vector<std::string> overrides;   // the `--set KEY=VALUE` texts applied to the file, in order
  std::vector<StageConfig> outputs;     // [[output]] Writer stages; empty: predict writes csv

  const ChainConfig* chain(std::string_view name) const;
  // The chain that scores images when there is no router: [model].
  const ChainConfig* default_chain() const { return chain("default"); }
};

struct ValidationResult {
  std::optional<PipelineConfig> config; // set only when there are no diagnostics
  std::vector<Diagnostic> diagnostics;
};

// Schemas of the tables the host itself reads; `radpipe inspect` shows them too.
const Schema& pipeline_table_schema();
const Schema& train_table_schema();
const Schema& evaluate_table_schema();
// The [train] keys a route may override in [route.NAME.train].
const std::vector<std::string>& chain_train_keys();

// `overrides` are `--set KEY=VALUE` texts, applied to the document before validation (overrides.hpp).
ValidationResult load_pipeline(const std::filesystem::path& file, const PluginHost& plugins,
                               const std::vector<std::string>& overrides = {});
// Validates TOML text as if it had been read from `file` (used by tests and `check -`).
ValidationResult parse_pipeline(std::string_view text, const std::filesystem::path& file, const PluginHost& plugins,
                                const std::vector<std::string>& overrides = {});

} // namespace radpipe::host
